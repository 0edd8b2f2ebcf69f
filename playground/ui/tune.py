"""The Compare tab's Tune: an Optuna study over the settings a learner picks (ranges from RunConfig),
run in a worker like every training, watched live; "Use the best" loads the best trial."""

from __future__ import annotations

import urllib.parse
from typing import Any

import pandas as pd
import streamlit as st

from playground.charts import tune as tune_charts
from playground.compare.tune import OBJECTIVES, PRUNERS, TuneOptions, objectives_for
from playground.compare.tune_space import BETAS, Param, Space, check_space, default_range, field_of
from playground.config import ConfigError, RunConfig, field_spec
from playground.serve import LIMITS, Job
from playground.tasks import TASKS
from playground.ui import lock
from playground.ui.clicks import pressed
from playground.ui.labels import label, listing
from playground.ui.session import PAGE_GATE, track_job
from playground.ui.setup import set_widgets
from playground.ui.share import base_url

REFRESH = max(0.5, LIMITS.live_refresh)
OFFERED = ("lr", "optimizer", "momentum", "beta1", "beta2", "weight_decay", "schedule", "batch_size",
           "hidden", "depth", "dropout")  # what the learners search; each if the model uses it
STARTING = ("lr", "optimizer")
OPTIMIZERS_FIRST = ("sgd", "adam", "adamw")  # the default set: the classic three, not all nine


def candidates(cfg: RunConfig) -> list[str]:
    """The settings this config can search: the model's own (batch size, width, depth, dropout),
    every optimizer setting, less what a classroom link locks."""
    uses = TASKS[cfg.task].models[cfg.model].uses
    locked = lock.hidden()
    return [n for n in OFFERED if (n not in ("batch_size", "hidden", "depth", "dropout") or n in uses)
            and field_of(n) not in locked]


def _name(name: str) -> str:
    return {"beta1": "Beta1", "beta2": "Beta2"}.get(name, label(name))


def range_widgets(name: str, cfg: RunConfig) -> Param:
    """One setting's range (two bounds and a log switch) or set of choices, RunConfig's limits."""
    start = default_range(name, cfg)
    key = f"tune_{name}"
    if start.choices:
        choices = list(TASKS[cfg.task].losses) if name == "loss" else list(start.choices)
        default = [c for c in OPTIMIZERS_FIRST if c in choices] if name == "optimizer" else choices
        picked = st.multiselect(_name(name), choices, default=default, key=key,
                                persist_state="page")
        return Param(name, choices=tuple(picked))
    spec = field_spec(field_of(name))
    a, b, c = st.columns([2, 2, 1], vertical_alignment="bottom")
    number = int if start.integer else float
    bounds = {"min_value": number(spec["min"]), "max_value": number(spec["max"])}
    fmt = {} if start.integer else {"format": "%.1e" if start.log else "%.4g"}
    keep = {"persist_state": "page"}  # kept while the Compare tab is not drawn
    low = a.number_input(f"{_name(name)} from", value=number(start.low), key=f"{key}_lo",
                         step=None, **bounds, **fmt, **keep)
    high = b.number_input("to", value=number(start.high), key=f"{key}_hi", step=None, **bounds,
                          **fmt, **keep)
    log = c.checkbox("log", value=start.log, key=f"{key}_log", help="Sample on a log scale: as "
                     "many trials between 1e-4 and 1e-3 as between 0.1 and 1.", **keep)
    return Param(name, float(low), float(high), log, start.integer)


def tune_section(cfg: RunConfig) -> None:
    """Pick settings, ranges, a budget and an objective; run the study; watch it fill."""
    st.markdown("**Tune** — [Optuna](https://optuna.org) tries settings for you: each trial is a "
                "run of your config with the values it picks; TPE learns from earlier trials where "
                "to look, and the pruner stops trials that fall behind.")
    offered = candidates(cfg)
    chosen = st.multiselect("Settings to search", offered, default=[n for n in STARTING
                                                                    if n in offered],
                            format_func=_name, key="tune_params", persist_state="page")
    held = [n for n in ("lr", "optimizer", "momentum", "betas", "weight_decay", "schedule")
            if n in lock.hidden()]
    if held:
        st.caption(lock.message(held) + " Tune leaves it as it is.")
    space: Space = {name: range_widgets(name, cfg) for name in chosen}
    a, b, c, d, e = st.columns(5)
    trials = a.number_input("Trials", 2, 200, 20, key="tune_trials", persist_state="page")
    seconds = b.number_input("Time budget (s)", 5, int(LIMITS.max_seconds),
                             min(60, int(LIMITS.max_seconds)), key="tune_seconds", persist_state="page")
    objective = c.selectbox("Objective", objectives_for(cfg.task), key="tune_objective", persist_state="page",
                            format_func=lambda k: k.replace("_", " "),
                            help="\n".join(f"- **{k}**: {OBJECTIVES[k].doc}"
                                           for k in objectives_for(cfg.task)))
    pruner = d.selectbox("Pruner", list(PRUNERS), key="tune_pruner", persist_state="page",
                         help="\n".join(f"- **{k}**: {doc}" for k, doc in PRUNERS.items()))
    seed = e.number_input("Sampler seed", 0, 2**31 - 1, 0, key="tune_seed", persist_state="page",
                          help="The same seed gives the same trials.")
    problem = None
    try:
        space = check_space(space, cfg)
    except ConfigError as exc:
        problem = str(exc).replace("--search ", "")
    job: Job | None = st.session_state.get("tune_job")
    x, y, _ = st.columns([1, 1, 3])
    if pressed(x, "🎯 Start tuning", key="tune_start", type="primary",
                disabled=bool(problem) or bool(job and job.alive)):
        options = TuneOptions(trials=int(trials), timeout=float(seconds), objective=objective,
                              pruner=pruner, seed=int(seed))
        job = track_job(Job("Tune", "tune", (cfg, space, options)).start())
        st.session_state.tune_job, st.session_state.tune_spec = job, (cfg, space, objective)
        st.session_state.pop("tune_notice", None)  # a new study: the last one's Use notice goes
    if pressed(y, "Stop", key="tune_stop", disabled=not (job and job.alive)):
        job.cancel()
    if problem:
        st.warning(problem)
    if job is not None:
        _study_view(job)


def _study_view(job: Job) -> None:
    """A fragment redraws the study while it runs."""
    @st.fragment(run_every=REFRESH if job.alive else None)
    @PAGE_GATE.gated
    def view() -> None:
        snap = job.snapshot()
        base, space, objective = st.session_state.tune_spec
        _status(snap)
        frame = snap.get("trials")
        if frame is not None and len(frame):
            show_study(snap, frame, base, space, objective)
        if loaded := st.session_state.pop("tune_loaded", None):
            st.session_state.tune_notice = loaded
            st.rerun(scope="app")  # the sidebar lives outside this fragment: redraw the page
        if notice := st.session_state.get("tune_notice"):  # kept across reruns until a new study
            st.success(notice)
        if st.session_state.get("tune_polling") and not job.alive:
            st.session_state.tune_polling = False
            st.rerun(scope="app")
        st.session_state.tune_polling = job.alive
    view()


def _status(snap: dict) -> None:
    """One line: queued, or progress and the trial in hand."""
    status = snap.get("status", "")
    if status == "queued":
        st.caption(f"🟡 queued for a free training slot (position {snap.get('position', 1)})")
        return
    running = snap.get("running")
    text = status if not running else (
        f"trial {running['trial']}: epoch {running['epoch']:,} of {running['epochs']:,} · "
        f"{running['seconds']:.0f} of {running['budget']:.0f} s")
    st.progress(min(1.0, snap.get("progress", 0.0)), text=text)
    if snap.get("message"):
        st.warning(snap["message"])


def show_study(snap: dict, frame: pd.DataFrame, base: RunConfig, space: Space, objective: str,
               key: str = "tune") -> None:
    """The trials table, the charts, the importances and the best trial (`key` names its button)."""
    title = objective.replace("_", " ")
    counts = frame["state"].value_counts()
    st.caption(f"{len(frame)} trials: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    left, right = st.columns(2)
    left.altair_chart(tune_charts.value_chart(frame, snap["direction"], title), width="stretch")
    if "lr" in space:
        by = "optimizer" if "optimizer" in space else None
        right.altair_chart(tune_charts.lr_chart(frame, by, snap["direction"], title),
                           width="stretch")
    ranks = snap.get("importances") or {}
    if ranks:
        (right if "lr" not in space else st).altair_chart(
            tune_charts.importance_chart(ranks), width="stretch")
    else:
        st.caption("Importances appear once four trials have finished.")
    st.dataframe(readable(frame), hide_index=True, width="stretch", height=240,
                 column_config={"value": st.column_config.NumberColumn(title, format="%.4g"),
                                "seconds": st.column_config.NumberColumn(format="%.1f"),
                                "ended": st.column_config.TextColumn(
                                    "ended", help="Why a trial ended early (pruned, diverged, "
                                    "stopped); empty: it ran all its epochs.")})
    best: RunConfig | None = snap.get("best_config")
    if best is not None:
        _best(snap, best, space, objective, key)


def readable(frame: pd.DataFrame) -> pd.DataFrame:
    """The trials table as a learner reads it (no process column: one study, one worker)."""
    return frame.drop(columns=["worker"])


def _use_best(changes: dict[str, Any]) -> None:
    """The best trial's settings into the sidebar (a classroom lock keeps its own)."""
    refused = set_widgets(changes)
    loaded = [k for k in changes if k not in refused]
    kept = f" ({listing(refused)} stays as your teacher set it)" if refused else ""
    st.session_state.tune_loaded = (f"Loaded the best trial's {listing(loaded)} into the sidebar"
                                    f"{kept}: press ▶ Start on the Train tab.")


def _value_text(cfg: RunConfig, name: str) -> str:
    """'Learning rate 0.0123' or 'Optimizer adam'."""
    value = cfg.betas[BETAS[name]] if name in BETAS else getattr(cfg, name)
    return f"{_name(name)} {value:.3g}" if isinstance(value, float) else f"{_name(name)} {value}"


def _best(snap: dict, best: RunConfig, space: Space, objective: str, key: str) -> None:
    """The best trial, a button that loads it, and its share link."""
    changes = {field_of(name): getattr(best, field_of(name)) for name in space}
    if key != "tune":  # a study made elsewhere: its whole config, not only what it searched
        changes = {k: v for k, v in best.to_dict().items() if k != "pace"}
    values = ", ".join(_value_text(best, name) for name in space)
    a, b = st.columns([3, 1], vertical_alignment="center")
    title = objective.replace("_", " ")
    a.markdown(f"**Best:** trial {snap['best_trial']} · {title} {snap['best_value']:.4g} · {values}")
    b.button("Use the best", key=f"{key}_use", type="primary", on_click=_use_best, args=(changes,),
             width="stretch", help="Loads the best trial's settings into the sidebar.")
    link = base_url() + "?" + urllib.parse.urlencode(best.to_query())
    st.code(link, language=None, wrap_lines=True)
    st.caption("The best trial as a share link: it opens this exact setup anywhere.")
