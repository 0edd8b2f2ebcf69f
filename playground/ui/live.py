"""Run controls and the live view, which a fragment redraws a few times a second while training."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import streamlit as st

from playground.charts import run as charts
from playground.charts.common import ZOOM_HINT
from playground.config import RunConfig, field_spec
from playground.serve import FINISHED, LIMITS, Runner, RunRefused, Snapshot
from playground.tasks import TASKS
from playground.ui import (
    chart_data,
    diagnostics,
    echo,
    history,
    lessons,
    lock,
    loop_view,
    pace,
    setup,
    stream,
)
from playground.ui.chart_data import with_marks
from playground.ui.images import figure, row
from playground.ui.session import PAGE_GATE
from playground.ui.stream import CHART_POINTS, SHOWN

REFRESH = LIMITS.live_refresh  # seconds between live redraws (PLAYGROUND_LIVE_REFRESH, 0.25)
PAUSED_REFRESH = max(1.0, REFRESH)  # while paused: enough to show a Step, light on the server
FIRST_WAIT_S = 0.4  # Start waits this long at most for the first step, to draw it at once
QUEUED_REFRESH = max(2.0, REFRESH)  # while queued: only the place in the queue changes (a class may queue 48)
STREAM_DETAILS = max(5.0, REFRESH)  # while streaming, the fragment keeps only the filmstrip and the
# live LR box: each of its runs cost Chromium ~0.16 s of React (docs/benchmarks.md, live refresh)
RESTART_FIELDS = "weights, data or optimizer"
LIVE = ("lr", "pace")  # settings a running run takes on at once


def controls(runner: Runner, cfg: RunConfig, target: np.ndarray) -> None:
    """Start, Pause/Resume, Step, Stop and Reset. Callbacks act before the page redraws, so every
    button's enabled state already reflects the click."""
    cols = st.columns(6, gap="small")
    if refused := st.session_state.pop("refused", None):
        st.error(refused, icon="🧱")
    cols[0].button("▶ Start", key="start", type="primary", width="stretch", on_click=_start,
                   args=(runner, cfg, target),
                   help="Train from fresh weights (same seed, same start) in the background.")
    snap = runner.snapshot(max_points=2)
    alive, paused = runner.alive, runner.pause_requested or snap.state == "paused"
    # two keys, not one toggling button: Streamlit replays a click whose run was interrupted, and
    # a replayed Pause must not land on a button that has meanwhile become Resume
    if paused:
        cols[1].button("Resume", key="resume", width="stretch", disabled=not alive,
                       on_click=runner.resume, help="Carry on from the same step.")
    else:
        cols[1].button("Pause", key="pause", width="stretch", disabled=not alive,
                       on_click=runner.pause, help="Hold the run; Resume carries on from the same step.")
    cols[2].button("Step", key="step", width="stretch", on_click=_refusable(runner.step_once),
                   args=(cfg, target), disabled=snap.state in FINISHED,
                   help="One optimizer step (zero_grad, forward, loss, backward, step), then pause.")
    loop_view.line_button(cols[3], runner, cfg, target)
    cols[4].button("Stop", key="stop", width="stretch", disabled=not alive,
                   on_click=runner.stop, kwargs={"wait": True},
                   help="End the run and keep its curve and picture.")
    cols[5].button("Reset", key="reset", width="stretch", on_click=_refusable(runner.reset),
                   args=(cfg, target), help="Fresh weights from the seed; applies every changed setting.")


def _start(runner: Runner, cfg: RunConfig, target: np.ndarray) -> None:
    """Start a run unless one is going (Start twice never makes two workers)."""
    try:
        if not runner.start(cfg, target):
            st.toast("Already training: use Pause, Step or Stop.")
        else:
            runner.first_step(FIRST_WAIT_S)
    except RunRefused as exc:
        st.session_state.refused = str(exc)


def _refusable(action: Callable[..., object]) -> Callable[..., None]:
    """A button callback that turns a refused run (too big for this server) into a message."""
    def call(*args: object) -> None:
        try:
            action(*args)
        except RunRefused as exc:
            st.session_state.refused = str(exc)
    return call


def sync_live_settings(runner: Runner, cfg: RunConfig) -> None:
    """Apply a new learning rate or pace to a live run; say which other changes wait for
    Start/Reset."""
    typed = st.session_state.pop("lr_to_apply", None)  # see setup.typed_lr_shown
    snap = runner.snapshot(max_points=2)
    running = snap.config
    if running is None or snap.state in FINISHED:
        return
    if runner.alive and typed is not None and "lr" not in lock.hidden():
        runner.set_lr(typed)
    if cfg.pace != runner.pace:
        runner.set_pace(cfg.pace)
    changed = [k for k, v in cfg.to_dict().items()
               if k not in LIVE and v != running.to_dict()[k]]
    if changed:
        st.info(f"Changed {', '.join(changed)}: this needs new {RESTART_FIELDS}, so it applies on "
                "the next Start or Reset. (The learning rate and the pace change live.)", icon="ℹ️")


def view_options() -> tuple[bool, float]:
    """Chart options the user can flip at any time."""
    a, b = st.columns([1, 2])
    log_y = a.toggle("log-y", value=True, key="log_y", help="A log scale shows progress at every "
                     "magnitude; linear hides everything after the first drop.")
    smoothing = b.slider("smoothing", 0.0, 0.99, 0.6, 0.01, key="smoothing",
                         help="Exponential moving average of the loss (the faint line is raw); "
                         "on the log-y axis, of its logarithm, so a drop of ten decades is drawn "
                         "where it happens.")
    return log_y, smoothing


def live_view(runner: Runner, cfg: RunConfig, target: np.ndarray | None) -> None:
    """Draw the live view; while a worker runs, a fragment redraws it every REFRESH seconds. (Split
    into a fast and a slow fragment, Chromium's renderer did more, not less: each fragment run
    costs the browser ~9 React commits of the whole page whatever it sends; docs/benchmarks.md.)"""
    log_y, smoothing = view_options()
    every = _pace(runner)
    st.session_state.live_pace = every

    @st.fragment(run_every=every)
    @PAGE_GATE.gated
    def refresh() -> None:
        runner.keepalive()
        if "lr_pending" in st.session_state:
            st.rerun(scope="app")  # a typed learning rate: apply it with a full run (setup.keep_typed_lr)
        snap = runner.snapshot(max_points=CHART_POINTS)
        history.archive(snap)
        if runner.alive and "lr" not in lock.hidden():  # a locked rate has no box to type in
            live_lr(runner, snap)
        if not runner.alive and _stale(snap, cfg, target):
            new_setup(snap, cfg, target)
        elif stream.active(runner, snap):  # the view fetches its own redraws (playground/ui/stream.py)
            stream.view(runner, snap, log_y, smoothing, REFRESH, QUEUED_REFRESH)
            draw_details(snap, target, log_y, smoothing, streamed=True)
        else:
            draw(snap, target, log_y, smoothing)
            draw_details(snap, target, log_y, smoothing)
        if snap.state in FINISHED and snap.state != "error" and not runner.alive:
            st.button("↩️ Restore the best checkpoint", key="restore_best",
                      on_click=runner.restore_best,
                      help="Load the weights marked ★ best on the chart: the lowest loss of "
                           "the first and every 10th step (or the best validation epoch).")
        echo.sent(fragment=True)
        repace(_pace(runner))

    refresh()


def repace(now: float | None) -> None:
    """Follow the run's pace from inside the live fragment. Queued and running (turns flip them
    every few seconds when a class shares the workers) only retime this fragment: a full run each
    time was most of the server's work with 50 sessions (docs/reliability.md)."""
    was = st.session_state.get("live_pace")
    if was is None or now == was:
        return
    st.session_state.live_pace = now
    if {was, now} != {REFRESH, QUEUED_REFRESH} or not pace.set_interval(now):
        st.rerun(scope="app")  # ended, paused or resumed: the controls change too


def live_lr(runner: Runner, snap: Snapshot) -> None:
    """The running run's learning rate, typed here and applied from its next step. It lives in the
    live view, which reruns on its timer: a value typed into the sidebar during a run can be lost
    when that rerun and the page's rerun cross (see setup.keep_typed_lr); one typed here cannot."""
    if st.session_state.get("live_lr_seen") != (snap.run_id, snap.base_lr):
        echo.rewrite("live_lr", float(snap.base_lr))  # follow the run (and the sidebar)
        st.session_state["live_lr_seen"] = (snap.run_id, snap.base_lr)
    spec = field_spec("lr")
    st.number_input("Learning rate now (Enter applies it from the next step)",
                    min_value=spec["min"], max_value=spec["max"], format="%.2e", step=None,
                    key="live_lr", on_change=_live_lr_typed, args=(runner, snap.run_id))


def _live_lr_typed(runner: Runner, run_id: int) -> None:
    """Apply the typed rate at once, and carry it into the sidebar on the next full run. The box
    counts it as seen already: when the run reports it a moment later, the box must not be
    rewritten, or a next value being typed just then would be replaced and lost."""
    if echo.is_echo("live_lr"):
        return
    lr = float(st.session_state["live_lr"])
    runner.set_lr(lr)
    st.session_state.lr_pending = lr
    st.session_state["live_lr_seen"] = (run_id, lr)


def _pace(runner: Runner) -> float | None:
    """Seconds between redraws: fast while training, slow while paused or queued (4 Hz reruns of
    many queued pages starve the server), none once the run has ended."""
    if not runner.alive:
        return None
    if runner.pause_requested:
        return PAUSED_REFRESH
    snap = runner.snapshot(max_points=2)
    if stream.active(runner, snap):
        return STREAM_DETAILS  # the stream redraws the fast part itself
    return QUEUED_REFRESH if snap.state == "queued" else REFRESH


def _stale(snap: Snapshot, cfg: RunConfig, target: np.ndarray | None) -> bool:
    """Whether the setup changed since the shown run ended (a new target, model, optimizer...).
    The run's config holds its starting rate and pace: the LIVE settings are compared with what the
    run last used (a rate changed during the run is the run's own, not a new setup)."""
    if snap.config is None or snap.state not in (*FINISHED, "ready"):
        return False
    new_target = (target is not None and snap.target is not None
                  and (target.shape != snap.target.shape or not np.array_equal(target, snap.target)))
    return new_target or snap.config.replace(lr=snap.base_lr, pace=cfg.pace) != cfg


def new_setup(snap: Snapshot, cfg: RunConfig, target: np.ndarray | None) -> None:
    """The setup changed after the last run: show what will be trained, and how to start it."""
    st.markdown("⚪ **ready** · the setup changed since the last run")
    st.info("Press ▶ Start to train on this setup. The last run is kept under 🗂️ Runs this "
            "session, below, to compare with.", icon="▶️")
    if target is not None and TASKS[cfg.task].sprite:
        st.html(row([figure(target, SHOWN, "target")]))


def draw(snap: Snapshot, target: np.ndarray | None, log_y: bool, smoothing: float) -> None:
    """Status line, pictures and step charts for one snapshot (a lesson: its whole view)."""
    status_line(snap)
    message(snap)
    if snap.config is not None and not TASKS[snap.config.task].sprite:
        lessons.draw(snap, log_y, smoothing)
        return
    if target is None:
        st.caption("Press ▶ Start (or Step) and the curves appear here.")
        return
    pictures(snap, target)
    df = charts.history_frame(snap.rows) if len(snap.rows) else None
    if df is None or df.empty:  # not started, or queued: the cheapest redraw (no frame, no chart)
        st.caption("Press ▶ Start (or Step) and the loss curve appears here.")
        return
    version = f"{snap.run_id}-{snap.n_rows}"
    marks = diagnostics.marks(snap)
    starts = tuple(charts.epoch_starts(df))
    spec = charts.loss_spec(log_y, bool(starts), points=len(df) < 40)
    name = f"loss-{version}-{smoothing}-{log_y}"
    data = chart_data.arrow_kept("loss", name, lambda: charts.loss_frame(df, smoothing, log_y))
    spec = with_marks(charts.with_data(spec, data, name), marks)
    st.vega_lite_chart(spec=chart_data.with_epochs(spec, starts) if starts else spec,
                       width="stretch")
    st.caption(ZOOM_HINT)  # once, under the main chart: every step chart zooms the same way
    if df["lr"].nunique() > 1:  # a flat line teaches nothing: show the LR only when it moves
        curve = setup.schedule_curve(snap.config) if snap.config is not None else None
        spec = charts.lr_spec(charts.run_lr_log_scale(curve, df))
        data = chart_data.arrow_kept("lr", f"lr-{version}", lambda: df[["step", "lr"]])
        st.vega_lite_chart(spec=with_marks(charts.with_data(spec, data, f"lr-{version}"), marks),
                           width="stretch")


def draw_details(snap: Snapshot, target: np.ndarray | None, log_y: bool, smoothing: float,
                 streamed: bool = False) -> None:
    """The panels under the charts: diagnostics (unless `streamed`: the stream draws them) and
    filmstrip (sprite tasks), the loop by line."""
    sprite = snap.config is None or TASKS[snap.config.task].sprite
    if sprite and target is not None and len(snap.rows):
        if not streamed:
            diagnostics.panel(snap, log_y, smoothing)
        filmstrip(snap)
    loop_view.loop_panel(snap)


def status_line(snap: Snapshot) -> None:
    """One line: state, step, epoch, loss, lr and speed."""
    st.markdown(stream.status_text(snap))


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
    st.html(stream.picture_row(snap, target))


def filmstrip(snap: Snapshot, keep: int = 10) -> None:
    """The generated sprite at the moments it changed most (see serve/film.py)."""
    frames = snap.filmstrip[-keep:]
    if len(frames) > 1:
        st.html(row([figure(img, 52, f"step {step:,}") for step, img in frames], gap=6))
