"""The running live view's fast part (status line, pictures, loss and LR curves, diagnostics),
which the page fetches from a route of its own four times a second instead of rerunning a
Streamlit fragment:
each fragment run cost Chromium ~11 React commits of the whole page, most of a core at four a
second, and on a 2-core machine the run paid for it (docs/benchmarks.md)."""

from __future__ import annotations

import asyncio
import html
import math
import re
import secrets
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from playground.charts import annotations
from playground.charts import diagnostics as dcharts
from playground.charts import run as charts
from playground.serve import LIMITS, Runner, Snapshot
from playground.tasks import TASKS
from playground.ui.assets import read_asset
from playground.ui.diagnostics import heading
from playground.ui.images import figure, row
from playground.ui.setup import schedule_curve

ROUTE = "/_pp/stream/{token}"
CHART_POINTS = 400  # points per step chart: about one per pixel of its width. Chromium's cost
# per redraw grows with the points (4 redraws a second of 1,000 took a core: docs/benchmarks.md)
SHOWN = 140  # display size of the big pictures in CSS pixels
STREAMED = ("running", "queued")  # the states the stream draws; any other hands back to the page
STATE_ICONS = {"idle": "⚪", "ready": "⚪", "starting": "🟡", "queued": "🟡", "running": "🟢",
               "paused": "⏸️", "completed": "✅", "diverged": "💥", "early_stopped": "🛑",
               "stopped": "⏹️", "error": "⚠️"}
CAPTION = ("Live view: hover for values, zoom and pan when the run is paused or has ended. "
           "Smoothing and log-y apply at once.")

THREADS = 2  # polls answered at once, per server (each is a few ms of the GIL)
_POOL = ThreadPoolExecutor(THREADS, thread_name_prefix="playground-stream")
_RUNNERS: weakref.WeakValueDictionary[str, Runner] = weakref.WeakValueDictionary()
_MOUNTED: list[bool] = []  # set once app.py's st.App serves the route (AppTest runs have none)

_COMPONENT = st.components.v2.component(
    "playground_stream", html=read_asset("stream.html"), css=read_asset("stream.css"),
    js=read_asset("stream.js"), isolate_styles=False,
)


def routes() -> list[Any]:
    """The route app.py's st.App serves next to Streamlit's own; serving it turns streaming on,
    and starts the threads that answer it."""
    from starlette.routing import Route

    _MOUNTED.append(True)
    barrier = threading.Barrier(THREADS)  # each start task waits for the others: THREADS threads
    for _ in range(THREADS):
        _POOL.submit(barrier.wait, 10)
    return [Route(ROUTE, _serve, methods=["GET"])]


def active(runner: Runner, snap: Snapshot) -> bool:
    """Whether this session's live view streams now: the route is served and works for this page,
    the run trains a sprite and is running or waiting for a worker (a paused or ended run gets
    the full charts, with hover and zoom)."""
    return (bool(_MOUNTED) and LIMITS.live_stream and not st.session_state.get("stream_failed")
            and runner.alive and not runner.pause_requested and snap.state in STREAMED
            and snap.config is not None and TASKS[snap.config.task].sprite)


def token(runner: Runner) -> str:
    """This session's unguessable key to its own run's stream (the route reads only that)."""
    tok = st.session_state.get("stream_token")
    if tok is None or _RUNNERS.get(tok) is not runner:
        tok = secrets.token_urlsafe(24)
        _RUNNERS[tok] = runner
        st.session_state.stream_token = tok
    return tok


def view(runner: Runner, snap: Snapshot, log_y: bool, smoothing: float, every: float,
         queued_every: float) -> None:
    """Mount the streaming view, with this snapshot drawn at once; it polls from then on."""
    data = {"url": ROUTE.format(token=token(runner)), "every": every, "queued_every": queued_every,
            "log_y": log_y, "smoothing": smoothing,
            "first": payload(snap, log_y, smoothing, diag=False),  # (its first poll asks for them)
            "caption": CAPTION}
    _COMPONENT(key="live_stream", data=data, on_ended_change=lambda: None,
               on_failed_change=_failed)


def _failed() -> None:
    """The page could not reach its stream (a proxy without it, another replica): redraw by reruns."""
    st.session_state.stream_failed = True


async def _serve(request: Any) -> Any:
    """GET the newest state of one session's run (`have`: the version the page already shows),
    answered on the stream's own THREADS threads: a class's polls wait their turn there instead of
    each taking a thread of the server's pool."""
    runner, query = _RUNNERS.get(request.path_params["token"]), dict(request.query_params)
    return await asyncio.get_running_loop().run_in_executor(_POOL, _answer, runner, query)


def _answer(runner: Runner | None, q: dict[str, str]) -> Any:
    """The JSON response to one poll (built off the event loop: encoding it takes time too)."""
    from starlette.responses import JSONResponse

    if runner is None:
        return JSONResponse({"error": "This page's run is gone; reload the page."}, status_code=404)
    log_y, smoothing, have = q.get("log_y") != "0", _smoothing(q.get("smoothing")), q.get("have", "")
    snap = runner.snapshot(max_points=2)  # (also tells the runner its page is open)
    if data_version(snap, log_y, smoothing) != have:  # new rows: thin them for the curves
        snap = runner.snapshot(max_points=CHART_POINTS)
    body = payload(snap, log_y, smoothing, have, diag=q.get("diag") == "1")
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


def _smoothing(text: str | None) -> float:
    """The page's smoothing, held in the slider's range (junk: the default)."""
    try:
        value = float(text or "")
    except ValueError:
        return 0.6
    return min(0.99, max(0.0, value)) if math.isfinite(value) else 0.6


def payload(snap: Snapshot, log_y: bool, smoothing: float, have: str = "",
            diag: bool = True) -> dict[str, Any]:
    """What the page draws for one snapshot: always the state and the status line; the pictures
    and curves only when the page does not have this version of them yet (a queued page's place
    in the queue changes, its curves do not). The diagnostics come when the page asks (`diag`:
    once a second, as the fragment redrew them)."""
    version = data_version(snap, log_y, smoothing)
    out: dict[str, Any] = {"state": snap.state, "version": version, "status": _bold(status_text(snap))}
    if version == have:
        return out
    out["pictures"] = picture_row(snap, snap.target) if snap.target is not None else ""
    out["chart"] = chart(snap, log_y, smoothing)
    if diag:
        out["diagnostics"] = diagnostics(snap, log_y, smoothing)
    return out


def data_version(snap: Snapshot, log_y: bool, smoothing: float) -> str:
    """Which pictures and curves a page shows: the run, its rows so far, and the page's look."""
    return f"{snap.run_id}:{snap.n_rows}:{int(log_y)}:{smoothing:g}"


def status_text(snap: Snapshot) -> str:
    """One markdown line: state, step, epoch, loss, lr and speed."""
    last = snap.last
    parts = [f"{STATE_ICONS.get(snap.state, '')} **{snap.state.replace('_', ' ')}**"]
    if snap.state == "queued":  # a run that already stepped was taking turns with other sessions
        what = "taking turns with other sessions" if last is not None else "waiting for a free training slot"
        parts.append(f"{what} (position {snap.queue_position})")
    if last is not None:
        parts += [f"step {last.step:,} / {snap.total_steps:,}", f"epoch {last.epoch:,}",
                  f"loss {last.loss:.4g}", f"lr {charts.format_lr(last.lr)}"]
    if snap.state == "running" and snap.steps_per_second:
        parts.append(f"{snap.steps_per_second:,.0f} steps/s")
    return " · ".join(parts)


def _bold(markdown: str) -> str:
    """The status line's markdown as HTML: escaped, with its **bold** kept."""
    return re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", html.escape(markdown))


def picture_row(snap: Snapshot, target: np.ndarray) -> str:
    """Target, generated sprite and per-pixel error, large and crisp, as one row of HTML."""
    if snap.target is not None:
        target = snap.target  # what this run trains on, even if another sprite is now selected
    figs = [figure(target, SHOWN, "target")]
    if snap.image is not None and snap.image.shape == target.shape:
        figs.append(figure(snap.image, SHOWN, "generated"))
        figs.append(figure(charts.error_map(target, snap.image), SHOWN,
                           "error per pixel (black = exact)", checker=False, border=True))
    return row(figs)


def chart(snap: Snapshot, log_y: bool, smoothing: float) -> dict[str, Any] | None:
    """The loss chart's columns as the page draws them (those of `charts.loss_frame`, built from
    the arrays: a DataFrame four times a second was half of a poll's cost), its marks, epoch
    rules and, when the rate moves, the LR line."""
    if not len(snap.rows):
        return None
    step, loss, lr = snap.rows["step"], snap.rows["loss"], snap.rows["lr"]
    floor, ceiling = charts.loss_range(loss)
    columns = charts.clipped(loss, floor, ceiling)
    smoothed = np.clip(charts.smooth(columns["loss"], smoothing, log_y), floor, ceiling)
    moving = bool((lr != lr[0]).any())
    return {"step": step.astype(float).tolist(), "loss": _finite(columns["loss"]),
            "smoothed": _finite(smoothed), "blown": np.flatnonzero(columns["blown"]).tolist(),
            "log_y": log_y, "points": len(step) < 40,
            "marks": [[s, label, color, end] for s, label, color, end
                      in annotations.marks(snap.events, snap.best_step, float(step[-1]))
                      if math.isfinite(s)],
            "epochs": epoch_starts(step, snap.rows["epoch"]),
            "lr": _finite(lr) if moving else None,
            "lr_log": moving and charts.run_lr_log_scale(_schedule(snap), pd.DataFrame({"lr": lr}))}


def epoch_starts(step: np.ndarray, epoch: np.ndarray, limit: int = 40) -> list[int]:
    """`charts.epoch_starts` on the arrays: the steps where epochs begin, when they are few."""
    if not len(step) or epoch[-1] == step[-1]:
        return []  # one step per epoch: every step would be a mark
    firsts = step[np.diff(epoch, prepend=epoch[0] - 1) != 0]
    return [] if len(firsts) > limit else [int(s) - 1 for s in firsts if s > 1]


def diagnostics(snap: Snapshot, log_y: bool, smoothing: float) -> dict[str, Any] | None:
    """The diagnostics panel's two charts (ui/diagnostics.py draws the same frames with Vega):
    gradient norm and update / weight ratio, whole model in black and one colour per layer."""
    if not len(snap.rows):
        return None
    kinds = []
    for kind, title in dcharts.KINDS.items():
        frame = dcharts.diagnostics_frame(kind, snap.rows, snap.layers, smoothing, log_y)
        names = [dcharts.WHOLE, *(n for n in frame["series"].unique() if n != dcharts.WHOLE)]
        colors = ["#222222", *dcharts.PALETTE]
        lines = []
        for name, color in zip(names, colors, strict=False):
            part = frame[frame["series"] == name]
            lines.append({"name": name, "color": color, "step": part["step"].astype(float).tolist(),
                          "value": _finite(part["value"]), "smoothed": _finite(part["smoothed"])})
        kinds.append({"kind": kind, "title": title, "lines": lines,
                      "band": list(dcharts.BAND) if kind == "ratio" else None, "guide": dcharts.GUIDE})
    return {"heading": _bold(heading(snap)),
            "kinds": kinds, "caption": dcharts.GUIDE_TEXT, "log_y": log_y}


def _schedule(snap: Snapshot) -> Any:
    """The run's whole schedule (its LR axis is decided from it, as the preview's is)."""
    return schedule_curve(snap.config) if snap.config is not None else None


def _finite(values: Any) -> list[float | None]:
    """JSON numbers: not-a-number and infinities become null (a gap in the line)."""
    arr = np.asarray(values, dtype=np.float64)
    return [float(v) if math.isfinite(v) else None for v in arr.tolist()]
