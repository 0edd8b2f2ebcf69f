"""The Compare tab: race optimizers from identical weights, find a learning rate, map stability."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from playground.charts import compare as compare_charts
from playground.charts.common import ZOOM_HINT, format_lr, with_data
from playground.compare import MAX_CONTENDERS, contender_names
from playground.compare.stability import cache_key, log_lrs
from playground.config import ConfigError, RunConfig, field_spec
from playground.serve import LIMITS, Job
from playground.tasks import TASKS
from playground.ui import lock
from playground.ui import paths as paths_ui
from playground.ui.bug_lab import bug_lab_section
from playground.ui.clicks import pressed
from playground.ui.images import figure, row
from playground.ui.labels import listing
from playground.ui.session import PAGE_GATE, track_job
from playground.ui.setup import set_widgets
from playground.ui.tune import tune_section
from playground.ui.tune_watch import watch_section

REFRESH = LIMITS.live_refresh  # a race's or a map's redraws: the live view's rate
EDITABLE = ["optimizer", "lr", "loss", "schedule", "momentum"]


# Presets --------------------------------------------------------------------------------------
LEADERBOARD = {  # the leaderboard's columns as a learner reads them
    "name": st.column_config.TextColumn("contender"),
    "status": st.column_config.TextColumn("ended"),
    "final_loss": st.column_config.NumberColumn("final loss", format="%.3g"),
    "best_loss": st.column_config.NumberColumn("best loss", format="%.3g"),
    "steps_to_threshold": st.column_config.TextColumn(
        "steps to 10% of the first loss", help="How many steps it took to cut the loss to a tenth "
        "(— : never)."),
    "diverged_at": st.column_config.TextColumn("diverged at step", help="— : it did not diverge."),
    "steps": st.column_config.NumberColumn("steps", format="%d"),
}


def presets(cfg: RunConfig) -> dict[str, list[dict[str, Any]]]:
    """Ready-made races on the user's own task, model and sprite."""
    task = TASKS[cfg.task]
    if task.races:  # the task's own races (the paths panel sets their surface up)
        return {name: rows for name, (_, rows) in task.races.items()}
    race_lr = task.models[cfg.model].race_lr if cfg.model in task.models else {}
    lr, sgd, adam = cfg.lr, race_lr.get("sgd", cfg.lr), race_lr.get("adam", cfg.lr)
    sweep = [lr * f for f in (0.01, 0.1, 1, 10, 100) if 1e-6 <= lr * f <= 1000]
    out = {
        "SGD vs momentum vs Adam": [{"optimizer": "sgd", "lr": sgd, "momentum": 0.0},
                                    {"optimizer": "sgd", "lr": sgd / 10, "momentum": 0.9},
                                    {"optimizer": "adam", "lr": adam, "momentum": 0.0}],
        "LR sweep x10": [{"optimizer": cfg.optimizer, "lr": v} for v in sweep],
        "Adam family": [{"optimizer": o, "lr": adam} for o in ("adam", "adamw", "nadam", "radam",
                                                               "adamax")],
    }
    if task.sprite:
        out["MSE vs L1 vs Huber"] = [{"loss": name, "lr": lr} for name in ("mse", "l1", "huber")]
    return out


def open_presets(cfg: RunConfig, locked: Collection[str] = ()) -> dict[str, list[dict[str, Any]]]:
    """The presets with locked settings left at the config's value, less those that then race
    identical contenders (an LR sweep when the learning rate is locked); all if none is left."""
    out = {}
    for name, rows in presets(cfg).items():
        kept = [{k: v for k, v in row.items() if k not in locked} for row in rows]
        if len({tuple(sorted(r.items())) for r in kept}) > 1:
            out[name] = kept
    return out or {name: [{}] * len(rows) for name, rows in presets(cfg).items()}


def contender_table(cfg: RunConfig, preset: str, locked: Collection[str] = ()) -> pd.DataFrame:
    """The preset as an editable table, one row per contender."""
    rows = [{**{k: getattr(cfg, k) for k in EDITABLE}, **change}
            for change in open_presets(cfg, locked)[preset]]
    return pd.DataFrame(rows, columns=EDITABLE)


def configs_from_table(cfg: RunConfig, table: pd.DataFrame,
                       locked: Collection[str] = ()) -> tuple[list[RunConfig], str | None]:
    """Validated contender configs, or a message naming what is wrong; a locked column's values
    are ignored (the contender keeps the config's)."""
    table = table.dropna(how="all")
    if not 2 <= len(table) <= MAX_CONTENDERS:
        return [], f"A race needs 2 to {MAX_CONTENDERS} contenders (this one has {len(table)})."
    configs = []
    try:
        for i, r in enumerate(table.to_dict("records"), start=1):
            changes = {k: r[k] for k in EDITABLE if k in r and k not in locked and pd.notna(r[k])}
            changes["lr"] = float(changes.get("lr", cfg.lr))
            changes["momentum"] = float(changes.get("momentum", cfg.momentum))
            try:
                configs.append(cfg.replace(**changes))
            except ConfigError as exc:
                return [], f"Contender {i}: {exc}"
    except (TypeError, ValueError) as exc:
        return [], f"The table has a value that is not a number: {exc}"
    return configs, None


# The race -------------------------------------------------------------------------------------
TABLE_SHOWN, TABLE_EDITED = "race_table_shown", "race_table_edited"  # session state: the keeper


def _table_shown(key: str, preset: pd.DataFrame) -> pd.DataFrame:
    """The rows the contender editor starts from: the preset's, or, when the Compare tab was left
    (Streamlit drops an undrawn editor's edits; the tab is drawn only while open), the table as
    the learner had edited it. The same rows go in until the preset or the setup changes, so the
    editor's edits stay relative to them."""
    shown = st.session_state.get(TABLE_SHOWN)
    if shown is None or shown[0] != key or not shown[1].equals(preset):
        shown = (key, preset, preset)
    elif key not in st.session_state and TABLE_EDITED in st.session_state:
        shown = (key, preset, st.session_state[TABLE_EDITED])
    st.session_state[TABLE_SHOWN] = shown
    return shown[2]


def race_section(cfg: RunConfig, target: np.ndarray | None) -> None:
    """Pick contenders, start the race, watch it."""
    st.markdown("**Race** — contenders start from the *same* weights and see the *same* batches.")
    locked = [k for k in EDITABLE if k in lock.hidden()]
    choice = st.selectbox("Preset", list(open_presets(cfg, locked)), key="race_preset",
                          persist_state="page")
    options = {"optimizer": list(field_spec("optimizer")["choices"]),
               "loss": list(TASKS[cfg.task].losses), "schedule": list(field_spec("schedule")["choices"])}
    key = f"race_table_{choice}_{cfg.task}"
    table = st.data_editor(
        _table_shown(key, contender_table(cfg, choice, locked)), num_rows="dynamic",
        width="stretch", key=key, disabled=locked,
        column_config={
            "optimizer": st.column_config.SelectboxColumn(options=options["optimizer"],
                                                          required=True),
            "loss": st.column_config.SelectboxColumn(options=options["loss"], required=True),
            "schedule": st.column_config.SelectboxColumn(options=options["schedule"],
                                                         required=True),
            "lr": st.column_config.NumberColumn(min_value=1e-6, max_value=1000.0, format="%.1e"),
            "momentum": st.column_config.NumberColumn(min_value=0.0, max_value=0.999)})
    st.session_state[TABLE_EDITED] = table
    if locked:
        st.caption(lock.message(locked) + " Every contender races with it; those columns are "
                   "not editable.")
    configs, problem = configs_from_table(cfg, table, locked)
    job: Job | None = st.session_state.get("race_job")
    a, b, _ = st.columns([1, 1, 3])
    if pressed(a, "🏁 Start race", key="race_start", type="primary", disabled=bool(problem) or
                bool(job and job.alive)):
        names = contender_names(configs)
        job = track_job(Job("Race", "race", (configs, names, target)).start())
        st.session_state.race_job, st.session_state.race_names = job, names
        st.session_state.race_cfg = configs[0]
    if pressed(b, "Stop race", key="race_stop", disabled=not (job and job.alive)):
        job.cancel()
    if problem:
        st.warning(problem)
    if job is not None:
        _race_view(job)


def _race_view(job: Job) -> None:
    """A fragment redraws the race while it runs."""
    @st.fragment(run_every=REFRESH if job.alive else None)
    @PAGE_GATE.gated
    def view() -> None:
        snap = job.snapshot()
        names = st.session_state.get("race_names", [])
        _race_status(snap)
        images = snap.get("images") or []
        if images and images[0] is not None:
            figs = [figure(img, 96, f"{name} · {status}") for name, img, status in
                    zip(names, images, snap.get("statuses", []), strict=False)]
            st.html(row(figs, gap=10))
        curves = snap.get("curves")
        if curves:
            spec = compare_charts.race_spec(tuple(names))
            st.vega_lite_chart(spec=with_data(spec, compare_charts.race_frame(names, curves),
                                              f"race-{job.id}-{snap.get('step')}"), width="stretch")
            st.caption(ZOOM_HINT)
            paths_ui.race_map(st.session_state.get("race_cfg"), names, curves,
                              f"-{job.id}-{snap.get('step')}")
        if "leaderboard" in snap:
            st.markdown("**Leaderboard**")
            st.dataframe(readable(snap["leaderboard"]), hide_index=True, width="stretch",
                         column_config=LEADERBOARD)
        if st.session_state.get("race_polling") and not job.alive:
            st.session_state.race_polling = False
            st.rerun(scope="app")
        st.session_state.race_polling = job.alive
    view()


def readable(board: pd.DataFrame) -> pd.DataFrame:
    """The leaderboard as a learner reads it: whole steps, and a dash where there is none."""
    shown = board.copy()
    for col in ("steps_to_threshold", "diverged_at"):
        shown[col] = ["—" if pd.isna(v) else f"{int(v):,}" for v in board[col]]
    return shown


def _race_status(snap: dict) -> None:
    """One line: state and progress, and why contenders stopped."""
    status = snap.get("status", "")
    if status == "queued":
        st.caption(f"🟡 queued for a free training slot (position {snap.get('position', 1)})")
    elif status in ("running", "done", "cancelled"):
        st.progress(min(1.0, snap.get("progress", 0.0)),
                    text=f"{status} · step {snap.get('step', 0):,}")
    for name, reason in zip(st.session_state.get("race_names", []), snap.get("reasons", []),
                            strict=False):
        if reason.startswith("diverged"):
            st.caption(f"💥 {name}: {reason}")
    if snap.get("message"):
        st.warning(snap["message"])


# LR range test ------------------------------------------------------------------------------
def _run_lr_find(cfg: RunConfig) -> None:
    """The sweep runs in a worker like every training; the page polls it."""
    job = Job("LR range test", "lr_find", (cfg, {"end": 1000.0, "smoothing": 0.9}))
    st.session_state.lr_find = (cfg, track_job(job.start()))


def _use_lr(lr: float) -> None:
    """The suggestion into the sidebar (unless a classroom link locks the learning rate)."""
    set_widgets({"lr": float(f"{lr:.3g}")})


def lr_find_section(cfg: RunConfig) -> None:
    """One click: an exponential LR sweep on a copy of fresh weights, and a suggestion."""
    st.markdown("**Learning-rate range test** — raise the LR every step from 1e-6 until the loss "
                "explodes; the best LR is a bit before the bottom (your run is not touched).")
    found = st.session_state.get("lr_find")
    busy = bool(found) and found[1].alive
    st.button("🔎 Find a learning rate", key="lr_find_run", on_click=_run_lr_find, args=(cfg,),
              disabled=busy)
    if not found:
        return
    swept, job = found
    if busy:
        _wait_for(job, "Sweeping learning rates…")
        return
    snap = job.snapshot()
    if snap["status"] != "done":
        st.error(snap.get("message") or "The sweep was cancelled.")
        return
    result = snap["result"]
    if result.frame.empty:
        st.warning("The sweep produced no finite losses: the model diverged immediately.")
        return
    st.altair_chart(compare_charts.lr_find_chart(result.frame, result.suggestion, cfg.lr),
                    width="stretch")
    if result.suggestion is None:
        st.info("No clear descent: try another optimizer or model.")
        return
    steep = format_lr(result.steep) if result.steep else "—"
    valley = format_lr(result.valley) if result.valley else "—"
    st.caption(f"Suggested {format_lr(result.suggestion)} (valley {valley}, steepest descent "
               f"{steep}); the sweep ended: {result.stopped}, {len(result.frame)} points in "
               f"{result.seconds:.2f} s, for {swept.optimizer} on {swept.model}.")
    locked = "lr" in lock.hidden()
    st.button(f"Use this LR ({format_lr(result.suggestion)})", key="lr_find_use",
              on_click=_use_lr, args=(result.suggestion,), disabled=locked,
              help=lock.message(["lr"]) if locked else None)
    if locked:
        st.caption(lock.message(["lr"]) + " The test still shows where a good one lies.")


def _wait_for(job: Job, text: str) -> None:
    """A small fragment that shows a job's progress and redraws the page when it ends."""
    @st.fragment(run_every=REFRESH)
    @PAGE_GATE.gated
    def poll() -> None:
        snap = job.snapshot()
        if snap["status"] == "queued":
            st.caption(f"🟡 queued for a free worker (position {snap.get('position', 1)})")
        else:
            st.progress(min(1.0, snap.get("progress", 0.0)), text=text)
        if not job.alive:
            st.rerun(scope="app")
    poll()


# Stability map ------------------------------------------------------------------------------
def _load_cell(optimizer: str, lr: float) -> None:
    """Put a map cell's optimizer and LR into the sidebar (the page then reruns in full); a
    setting a classroom link locks stays, and the notice says which part was loaded."""
    refused = set_widgets({"optimizer": optimizer, "lr": float(lr)})
    loaded = [text for name, text in (("optimizer", optimizer), ("lr", f"lr={format_lr(lr)}"))
              if name not in refused and name not in lock.hidden()]
    kept = f" ({listing(refused)} stays as your teacher set it)" if refused else ""
    st.session_state.map_loaded = (" at ".join(loaded) or "nothing") + kept


def _what_load_puts(locked: list[str]) -> str:
    """What the map's Load still changes when some of its settings are locked."""
    free = [k for k in ("optimizer", "lr") if k not in locked]
    return f" Load puts only {listing(free)} into the sidebar." if free else " Load is off."


def _cell_name(optimizer: str, lr: float, regime: str) -> str:
    """How a map cell reads in the list: 'sgd · lr=0.1 · converge'."""
    return f"{optimizer} · lr={format_lr(lr)}" + (f" · {regime}" if regime else "")


def stability_section(cfg: RunConfig) -> None:
    """A grid of short runs: where does each optimizer learn, crawl or blow up?"""
    st.markdown("**Stability map** — short runs over learning rates × optimizers, from the same "
                "weights. Click a cell to load it.")
    a, b, c = st.columns([3, 1, 1])
    optimizers = a.multiselect("Optimizers", list(field_spec("optimizer")["choices"]),
                               default=["sgd", "adam"], key="map_optimizers",
                               persist_state="page")
    count = b.number_input("LRs", 3, 12, 7, key="map_count", persist_state="page")
    steps = c.number_input("Steps", 10, 2000, 150, step=10, key="map_steps",
                           persist_state="page")
    lrs = log_lrs(1e-4, 10.0, int(count))
    key = cache_key(cfg, lrs, optimizers, int(steps)) if optimizers else None
    cache: dict = st.session_state.setdefault("map_cache", {})
    job: Job | None = st.session_state.get("map_job")
    x, y, _ = st.columns([1, 1, 3])
    if pressed(x, "🗺️ Map it", key="map_run", disabled=not optimizers or key in cache or
                bool(job and job.alive)):
        job = track_job(Job("Stability map", "stability",
                            (cfg, lrs, optimizers, int(steps))).start())
        st.session_state.map_job, st.session_state.map_key = job, key
    if pressed(y, "Cancel", key="map_cancel", disabled=not (job and job.alive)):
        job.cancel()
    _map_view(job, cache, key, cfg)


def _map_view(job: Job | None, cache: dict, key: str | None, cfg: RunConfig) -> None:
    """Progress while the map runs; the heatmap when it is (or was) done."""
    @st.fragment(run_every=REFRESH if job is not None and job.alive else None)
    @PAGE_GATE.gated
    def view() -> None:
        if job is not None:
            snap = job.snapshot()
            if snap.get("status") == "done" and st.session_state.get("map_key") not in cache:
                cache[st.session_state.map_key] = snap["result"]
            if job.alive:
                st.progress(min(1.0, snap.get("progress", 0.0)), text="mapping…")
            elif snap.get("status") in ("error", "cancelled"):
                st.warning(snap.get("message") or "The map was cancelled.")
            if st.session_state.get("map_polling") and not job.alive:
                st.session_state.map_polling = False
                st.rerun(scope="app")
            st.session_state.map_polling = job.alive
        frame = cache.get(key)
        if frame is None:
            return
        event = st.altair_chart(compare_charts.stability_chart(frame, cfg.optimizer, cfg.lr),
                                width="stretch", on_select="rerun", key="map_chart")
        picked = (event.selection.get("cell") if event and hasattr(event, "selection")
                  else None)
        cells = {_cell_name(o, lr, r): (o, float(lr))
                 for o, lr, r in zip(frame["optimizer"], frame["lr"], frame["regime"], strict=True)}
        if picked:  # a click on the map picks the cell in the list below
            clicked = (picked[0]["optimizer"], float(picked[0]["lr"]))
            st.session_state.map_pick = next((n for n, c in cells.items() if c == clicked), None)
        a, b = st.columns([3, 1], vertical_alignment="bottom")
        name = a.selectbox("Cell", list(cells), index=None, key="map_pick", persist_state="page",
                           placeholder="Click a cell on the map, or pick one here")
        locked = [k for k in ("optimizer", "lr") if k in lock.hidden()]
        b.button("Load it", key="map_load", disabled=name is None or len(locked) == 2,
                 width="stretch", on_click=_load_cell, args=cells.get(name, ("", 0.0)),
                 help="Puts this optimizer and learning rate into the sidebar"
                 + (" (" + lock.message(locked) + ")" if locked else "."))
        if locked:
            st.caption(lock.message(locked) + _what_load_puts(locked))
        if loaded := st.session_state.pop("map_loaded", None):
            st.session_state.map_notice = loaded
            st.rerun(scope="app")  # the sidebar lives outside this fragment: redraw the whole page
        if notice := st.session_state.pop("map_notice", None):
            st.success(f"Loaded {notice} into the sidebar: press ▶ Start on the Train tab.")
        st.caption("Each cell is a short run from the same weights: 🐢 crawl · ✅ converge · "
                   "〰️ oscillate · 💥 diverge. Darker = lower final loss; the framed cell is your "
                   "config; click a cell to load it.")
    view()


def compare_tab(cfg: RunConfig, target: np.ndarray | None) -> None:
    """The compare tools, top to bottom."""
    race_section(cfg, target)
    st.divider()
    lr_find_section(cfg)
    st.divider()
    stability_section(cfg)
    bug_lab_section(cfg)
    st.divider()
    tune_section(cfg)
    watch_section()
