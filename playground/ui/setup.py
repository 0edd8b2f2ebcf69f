"""The sidebar: every setting as a widget whose range, choices and help come from RunConfig."""

from __future__ import annotations

import functools
import math
from typing import Any

import streamlit as st

from playground.charts import run as charts
from playground.config import FIELDS, ConfigError, RunConfig, field_spec, task_defaults
from playground.losses import REDUCTIONS
from playground.optim import OPTIMIZERS
from playground.schedules import SCHEDULES, lr_curve
from playground.surfaces import SURFACES
from playground.tasks import TASKS, model_doc, models_help
from playground.ui import echo, lock
from playground.ui.labels import label

LR_STOPS = [m * 10.0**e for e in range(-5, 4) for m in (1, 2, 5) if m * 10.0**e <= 1000]
NOT_WIDGETS = {"sprite", "pixels", "houses"}  # set by the target picker / data table


def _surface_changed() -> None:
    """A new surface starts from its own start point."""
    set_widgets(dict(zip(("start_x", "start_y"), SURFACES[st.session_state[key("surface")]].start,
                         strict=True)))


FIELD_CHANGED = {"surface": _surface_changed}  # data settings that move others when changed


def key(name: str) -> str:
    """The session-state key of a setting's widget."""
    return f"w_{name}"


def load_into_widgets(cfg: RunConfig, overwrite: bool = False) -> None:
    """Put a config's values into the widgets' session state (first load, share links, restores);
    an overwrite goes through `set_widgets`, so settings a classroom link locks stay put."""
    if overwrite:
        set_widgets(cfg.to_dict())
        return
    for name in FIELDS:
        st.session_state.setdefault(key(name), getattr(cfg, name))
    for i, beta in enumerate(cfg.betas):
        st.session_state.setdefault(key(f"beta{i + 1}"), beta)
    st.session_state.setdefault(key("lr_slider"), nearest_stop(cfg.lr))


def set_widgets(changes: dict[str, Any]) -> list[str]:
    """Put settings into the sidebar's widgets: the one way every control (presets, restores, race
    and map loads, the LR finder) changes them, so a classroom lock holds everywhere. Returns the
    locked settings it left alone (the sidebar says so)."""
    allowed, refused = lock.split(changes)
    for name, value in allowed.items():
        if name == "lr":
            echo.rewrite(key("lr"), value)
        else:
            st.session_state[key(name)] = value
    for i, beta in enumerate(allowed.get("betas", ())):
        st.session_state[key(f"beta{i + 1}")] = beta
    if "lr" in allowed:
        echo.rewrite(key("lr_slider"), nearest_stop(allowed["lr"]))
        st.session_state.lr_pending = float(allowed["lr"])  # a live run takes it, as if typed
    lock.refuse(refused)
    return refused


def widget(name: str, box: Any = st, choices: list[str] | None = None, **extra: Any) -> Any:
    """One setting's widget, drawn from its field spec (choices narrowed to the task's, if given)."""
    if name in st.session_state.get("hidden_fields", ()):
        return st.session_state.cfg.to_dict()[name] if "cfg" in st.session_state else None
    if key(name) not in st.session_state and "cfg" in st.session_state:
        st.session_state[key(name)] = getattr(st.session_state.cfg, name)  # shown again: keep it
    spec = field_spec(name)
    kind = str(FIELDS[name].type)
    common = {"key": key(name), "help": spec["help"], **extra}
    choices = choices or spec["choices"]
    if choices:
        if st.session_state.get(key(name)) not in choices:
            st.session_state[key(name)] = choices[0]
        return box.selectbox(label(name), choices, format_func=_choice_text(name), **common)
    if kind == "bool":
        return box.checkbox(label(name), **common)
    if kind == "int":
        return box.number_input(label(name), min_value=spec["min"], max_value=spec["max"], step=1,
                                **common)
    step = 0.01 if spec["max"] <= 1 else 0.1
    fmt = "%.0e" if spec["log"] else ("%.4g" if spec["max"] > 1 else "%.3f")
    return box.number_input(label(name), min_value=float(spec["min"]),
                            max_value=float(spec["max"]), step=step, format=fmt, **common)


def _choice_text(name: str) -> Any:
    """How a registry key reads in a selectbox: the key and the first clause of its entry's doc."""
    task = TASKS[st.session_state.get(key("task"), "generate")]
    registry = {"model": task.models, "loss": task.losses, "task": TASKS, "optimizer": OPTIMIZERS,
                "schedule": SCHEDULES, "surface": SURFACES, "reduction": REDUCTIONS}.get(name)
    if registry is None:
        return str
    return lambda k: f"{k} · {_short_doc(getattr(registry[k], 'doc', registry[k]) if k in registry else k)}"


def _short_doc(doc: str, limit: int = 26) -> str:
    """The first clause of a help line, cut at a word so a dropdown never shows half a word."""
    text = doc.split(":")[0].split(";")[0].split(".")[0].strip()
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + "…"


def nearest_stop(lr: float) -> float:
    """The slider stop closest to lr on a log scale."""
    return min(LR_STOPS, key=lambda s: abs(math.log10(s) - math.log10(max(lr, 1e-12))))


def _slider_moved() -> None:
    """A slider move sets the exact LR, unless the slider only shows the stop nearest to it, or
    the browser only sent back a value the server had just replaced (`echo`)."""
    if echo.is_echo(key("lr_slider")):
        return
    moved = float(st.session_state[key("lr_slider")])
    if moved == nearest_stop(st.session_state.get(key("lr"), moved)):
        return
    echo.rewrite(key("lr"), moved)
    st.session_state.lr_pending = moved


def _box_typed() -> None:
    """A typed LR moves the slider to its nearest stop and reaches a live run (not an echo)."""
    if echo.is_echo(key("lr")):
        return
    echo.rewrite(key("lr_slider"), nearest_stop(st.session_state[key("lr")]))
    st.session_state.lr_pending = float(st.session_state[key("lr")])


def keep_typed_lr() -> bool:
    """Put a learning rate typed during a run back into the widgets; True if there was one.

    While a run is live its view reruns every 0.25 s, and Streamlit 1.67 can turn the full rerun a
    typed value asks for into that fragment-only rerun, which drops the sidebar widget's new value
    as stale (streamlit/streamlit#14064). The widget's callback still runs and records the value;
    the next full run restores it here, and the live view asks for that full run. The value stays
    pending until the sidebar has been drawn with it (`typed_lr_shown`): a full run cut short
    before that (by the next rerun) would otherwise leave the browser's old value to come back,
    and the page would then set the run's rate back to it."""
    value = st.session_state.get("lr_pending")
    if value is None:
        return False
    echo.rewrite(key("lr"), value)
    echo.rewrite(key("lr_slider"), nearest_stop(value))
    return True


def typed_lr_shown() -> None:
    """The sidebar now shows the typed rate: it is no longer pending, and a live run takes it
    (`live.sync_live_settings`). Only a rate someone typed, slid or loaded reaches the run: a
    sidebar that merely differs from the run (a browser's stale widget state after crossed
    reruns) never sets the run's rate back."""
    value = st.session_state.pop("lr_pending", None)
    if value is not None:
        st.session_state.lr_to_apply = value


def lr_widgets(box: Any = st) -> None:
    """A log-scale slider for exploring plus a number box for exact values, kept in sync."""
    if "lr" in st.session_state.get("hidden_fields", ()):
        return
    spec = field_spec("lr")
    box.select_slider("Learning rate", LR_STOPS, key=key("lr_slider"), on_change=_slider_moved,
                      format_func=charts.format_lr, help=spec["help"])
    box.number_input("exact learning rate", min_value=spec["min"], max_value=spec["max"],
                     format="%.2e", step=None, key=key("lr"), on_change=_box_typed,
                     label_visibility="collapsed", help="Type any value from 1e-6 to 1000.")


def sidebar() -> Any:
    """Draw all setting widgets (values land in session state); returns the schedule preview slot.
    Which widgets appear comes from the registries: the task's data fields, the model's, the
    loss's, the optimizer's and the schedule's `uses`."""
    sb = st.sidebar
    sb.header("Setup")
    lock.notice(sb)
    if (bug := st.session_state.get(key("bug"), "none")) != "none":  # set by the bug lab or a link
        sb.warning(f"🐞 This run has the bug lab's mistake '{bug}' in its loop (Compare tab).")
    task = widget("task", sb, on_change=_task_changed)
    spec = TASKS[task]
    if spec.fields:
        sb.subheader("Data")
        for name in spec.fields:
            widget(name, sb, on_change=FIELD_CHANGED.get(name))
    sb.subheader("Model")
    model = widget("model", sb, choices=list(spec.models), help=models_help(task))
    if model in spec.models:
        sb.caption(model_doc(task, model))
    loss = widget("loss", sb, choices=list(spec.losses))
    for name in spec.losses[loss].uses if loss in spec.losses else ():
        widget(name, sb)  # e.g. the reduction, which sets the scale of every learning rate
    uses = spec.models[model].uses
    details = [n for n in uses if n != "batch_size"]
    if details:
        with sb.expander("Model details"):
            for name in details:
                widget(name)
    sb.subheader("Optimizer")
    optimizer = widget("optimizer", sb)
    lr_widgets(sb)
    for name in OPTIMIZERS[optimizer].uses:
        if name == "betas":
            _betas(sb)
        else:
            widget(name, sb)
    sb.subheader("Schedule")
    schedule = widget("schedule", sb)
    for name in SCHEDULES[schedule].uses:
        widget(name, sb)
    preview = sb.empty()
    sb.subheader("Training")
    pace_widget(sb)
    widget("epochs", sb)
    if "batch_size" in uses:
        widget("batch_size", sb)
    widget("clip_grad_norm", sb)
    widget("seed", sb)
    with sb.expander("Early stopping"):
        widget("patience")
        widget("min_delta")
        widget("monitor", choices=list(spec.monitors))
    return preview


def _task_changed() -> None:
    """A new lesson starts from that lesson's defaults (its models, losses and a good LR)."""
    task = st.session_state[key("task")]
    load_into_widgets(RunConfig(**task_defaults(task)), overwrite=True)
    if TASKS[task].sprite:
        st.session_state.sprite = st.session_state.get("sprite") or "heart"


PACES = (5, 10, 20, 30, 60, 120, 250, 500, 0)  # steps per second; 0 = as fast as it goes


def _pace_text(pace: int) -> str:
    return "full speed" if pace == 0 else f"{pace} steps/s"


def pace_widget(box: Any) -> None:
    """How fast the app plays the run: slow enough to watch, or flat out."""
    if "pace" in st.session_state.get("hidden_fields", ()):
        return
    current = st.session_state.get(key("pace"), field_spec("pace")["default"])
    options = sorted({*PACES, current}, key=lambda p: p or 10**9)  # a link may carry any pace
    box.select_slider("Pace", options, key=key("pace"), format_func=_pace_text,
                      help=field_spec("pace")["help"])


def _betas(box: Any) -> None:
    """Adam's two betas as two boxes side by side."""
    spec = field_spec("betas")
    a, b = box.columns(2)
    for col, i in ((a, 1), (b, 2)):
        col.number_input(f"beta{i}", min_value=0.0, max_value=spec["max"], step=0.001,
                         format="%.4f", key=key(f"beta{i}"), help=spec["help"])


@functools.lru_cache(maxsize=32)
def schedule_curve(cfg: RunConfig) -> tuple[tuple[int, float], ...]:
    """The config's whole schedule for the preview and the run's LR axis (pure, so cached)."""
    return tuple(lr_curve(cfg, points=charts.PREVIEW_POINTS))


def schedule_preview(box: Any, cfg: RunConfig) -> None:
    """The LR the schedule will use at each step, drawn before the run starts."""
    if not lr_curve(cfg, points=2):
        box.caption("The LR drops when the loss stops improving: no preview possible.")
    elif cfg.schedule != "constant":
        box.altair_chart(charts.schedule_chart(schedule_curve(cfg)), width="stretch")


def config_from_widgets(previous: RunConfig) -> tuple[RunConfig, str | None]:
    """The config the widgets describe, or the previous one and a message if it is invalid."""
    values = {name: st.session_state.get(key(name), getattr(previous, name)) for name in FIELDS}
    values["sprite"] = st.session_state.get("sprite", previous.sprite)
    values["pixels"] = st.session_state.get("pixels", previous.pixels)
    values["betas"] = (st.session_state.get(key("beta1"), previous.betas[0]),
                       st.session_state.get(key("beta2"), previous.betas[1]))
    values.update(lock.locked_values())  # whatever a widget holds, a locked setting stays put
    for name, value in values.items():
        if str(FIELDS[name].type) == "float" and isinstance(value, int):
            values[name] = float(value)
    try:
        return RunConfig(**values), None
    except ConfigError as exc:
        return previous, str(exc)
