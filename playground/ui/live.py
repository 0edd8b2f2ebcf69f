"""Run controls and the live view, which a fragment redraws a few times a second while training."""

from __future__ import annotations

import io

import numpy as np
import streamlit as st

from playground import charts, sprites
from playground.config import RunConfig
from playground.runner import FINISHED, Runner, Snapshot
from playground.ui import history, lessons
from playground.ui.images import figure, row

REFRESH = 0.25  # seconds between live redraws
SHOWN = 140  # display size of the big pictures in CSS pixels
STATE_ICONS = {"idle": "⚪", "ready": "⚪", "starting": "🟡", "queued": "🟡", "running": "🟢",
               "paused": "⏸️", "completed": "✅", "diverged": "💥", "early_stopped": "🛑",
               "stopped": "⏹️", "error": "⚠️"}
RESTART_FIELDS = "weights, data or optimizer"


def controls(runner: Runner, cfg: RunConfig, target: np.ndarray) -> None:
    """Start, Pause/Resume, Step, Stop and Reset. Callbacks act before the page redraws, so every
    button's enabled state already reflects the click."""
    cols = st.columns(5, gap="small")
    cols[0].button("▶ Start", key="start", type="primary", width="stretch", on_click=_start,
                   args=(runner, cfg, target),
                   help="Train from fresh weights (same seed, same start) in the background.")
    snap = runner.snapshot(max_points=2)
    alive, paused = runner.alive, snap.state == "paused"
    cols[1].button("Resume" if paused else "Pause", key="pause", width="stretch",
                   disabled=not alive, on_click=runner.resume if paused else runner.pause,
                   help="Hold the run; Resume carries on from the same step.")
    cols[2].button("Step", key="step", width="stretch", on_click=runner.step_once,
                   args=(cfg, target), disabled=snap.state in FINISHED,
                   help="One optimizer step (zero_grad, forward, loss, backward, step), then pause.")
    cols[3].button("Stop", key="stop", width="stretch", disabled=not alive,
                   on_click=runner.stop, kwargs={"wait": True},
                   help="End the run and keep its curve and picture.")
    cols[4].button("Reset", key="reset", width="stretch", on_click=runner.reset,
                   args=(cfg, target), help="Fresh weights from the seed; applies every changed setting.")


def _start(runner: Runner, cfg: RunConfig, target: np.ndarray) -> None:
    """Start a run unless one is going (Start twice never makes two workers)."""
    if not runner.start(cfg, target):
        st.toast("Already training: use Pause, Step or Stop.")


def sync_live_settings(runner: Runner, cfg: RunConfig) -> None:
    """Apply a new learning rate to a live run; say which other changes wait for Start/Reset."""
    snap = runner.snapshot(max_points=2)
    running = snap.config
    if running is None or snap.state in FINISHED:
        return
    if runner.alive and abs(cfg.lr - snap.base_lr) > 1e-15 * cfg.lr:
        runner.set_lr(cfg.lr)
    changed = [k for k, v in cfg.to_dict().items()
               if k != "lr" and v != running.to_dict()[k]]
    if changed:
        st.info(f"Changed {', '.join(changed)}: this needs new {RESTART_FIELDS}, so it applies on "
                "the next Start or Reset. (The learning rate changes live.)", icon="ℹ️")


def view_options() -> tuple[bool, float]:
    """Chart options the user can flip at any time."""
    a, b = st.columns([1, 2])
    log_y = a.toggle("log-y", value=True, key="log_y", help="A log scale shows progress at every "
                     "magnitude; linear hides everything after the first drop.")
    smoothing = b.slider("smoothing", 0.0, 0.99, 0.6, 0.01, key="smoothing",
                         help="Exponential moving average of the loss (the faint line is raw).")
    return log_y, smoothing


def live_view(runner: Runner, target: np.ndarray | None) -> None:
    """Draw the live view; while a worker runs, a fragment redraws it every REFRESH seconds."""
    log_y, smoothing = view_options()
    every = REFRESH if runner.alive else None
    st.session_state.polling = every is not None

    @st.fragment(run_every=every)
    def refresh() -> None:
        runner.keepalive()
        snap = runner.snapshot()
        history.archive(snap)
        draw(snap, target, log_y, smoothing)
        if st.session_state.get("polling") and not runner.alive:
            st.session_state.polling = False
            st.rerun(scope="app")  # the run ended: redraw controls and stop polling

    refresh()


def draw(snap: Snapshot, target: np.ndarray | None, log_y: bool, smoothing: float) -> None:
    """Status line, pictures, charts and filmstrip for one snapshot."""
    status_line(snap)
    message(snap)
    if snap.config is not None and snap.config.task != "generate":
        lessons.draw(snap)
        return
    if target is None:
        st.caption("Press ▶ Start (or Step) and the curves appear here.")
        return
    pictures(snap, target)
    df = charts.history_frame(snap.rows)
    if df.empty:
        st.caption("Press ▶ Start (or Step) and the loss curve appears here.")
        return
    version = f"{snap.run_id}-{snap.n_rows}"
    spec = charts.loss_spec(log_y, tuple(snap.events), tuple(charts.epoch_starts(df)))
    st.vega_lite_chart(spec=charts.with_data(spec, charts.loss_frame(df, smoothing),
                                             f"loss-{version}-{smoothing}"), width="stretch")
    if df["lr"].nunique() > 1:  # a flat line teaches nothing: show the LR only when it moves
        spec = charts.lr_spec(charts.lr_log_scale(df))
        st.vega_lite_chart(spec=charts.with_data(spec, df[["step", "lr"]], f"lr-{version}"),
                           width="stretch")
    filmstrip(snap)


def status_line(snap: Snapshot) -> None:
    """One line: state, step, epoch, loss, lr and speed."""
    last = snap.last
    parts = [f"{STATE_ICONS.get(snap.state, '')} **{snap.state.replace('_', ' ')}**"]
    if snap.state == "queued":
        parts.append(f"waiting for a free training slot (position {snap.queue_position})")
    if last is not None:
        step, epoch, loss, lr = last[:4]
        parts += [f"step {step:,} / {snap.total_steps:,}", f"epoch {epoch:,}", f"loss {loss:.4g}",
                  f"lr {charts.format_lr(lr)}"]
    if snap.state == "running" and snap.steps_per_second:
        parts.append(f"{snap.steps_per_second:,.0f} steps/s")
    st.markdown(" · ".join(parts))


def message(snap: Snapshot) -> None:
    """Why a run ended, when it did not simply complete."""
    if not snap.message:
        return
    if snap.state in ("diverged", "error"):
        st.error(snap.message, icon="💥" if snap.state == "diverged" else "⚠️")
    elif snap.state == "early_stopped":
        st.info(snap.message)
    else:
        st.warning(snap.message)


def pictures(snap: Snapshot, target: np.ndarray) -> None:
    """Target, generated sprite and per-pixel error, large and crisp."""
    if snap.target is not None:
        target = snap.target  # what this run trains on, even if another sprite is now selected
    figs = [figure(target, SHOWN, "target")]
    if snap.image is not None and snap.image.shape == target.shape:
        figs.append(figure(snap.image, SHOWN, "generated"))
        figs.append(figure(charts.error_map(target, snap.image), SHOWN,
                           "error per pixel (dark = right)", checker=False))
    st.html(row(figs))


def filmstrip(snap: Snapshot, keep: int = 7) -> None:
    """The generated sprite at a few log-spaced moments of the run."""
    frames = snap.filmstrip[-keep:]
    if len(frames) > 1:
        st.html(row([figure(img, 52, f"step {step:,}") for step, img in frames], gap=6))


def downloads(runner: Runner) -> None:
    """The run's history, picture and config, generated only when clicked."""
    snap = runner.snapshot(max_points=2)
    if snap.config is None or snap.n_rows == 0:
        return
    with st.expander("⬇️ Download this run"):
        a, b, c = st.columns(3)
        a.download_button("history.csv", lambda: _history_csv(runner), "history.csv", "text/csv",
                          key="dl_csv")
        image = snap.image if snap.image is not None else np.zeros((1, 1, 4), np.uint8)
        b.download_button("final.png", sprites.to_png_bytes(image), "final.png", "image/png",
                          key="dl_png")
        c.download_button("config.json", snap.config.to_json(), "config.json", "application/json",
                          key="dl_json")


def _history_csv(runner: Runner) -> str:
    """Every history row (not the thinned chart view) as CSV."""
    buf = io.StringIO()
    charts.pd.DataFrame(runner.rows_since(0), columns=charts.COLUMNS).to_csv(buf, index=False)
    return buf.getvalue()
