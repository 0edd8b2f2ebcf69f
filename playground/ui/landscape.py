"""The loss landscape around a paused or finished run, under its live view on the Train tab (where
the learner is looking at that run): settings, a background job with a progress bar and Cancel,
then the contour map with the path and the slice along the next step."""

from __future__ import annotations

import math

import streamlit as st

from playground.charts import landscape as charts
from playground.compare.landscape import DIRECTIONS, Landscape, LandscapeOptions, verdict
from playground.serve import LIMITS, Job, Runner
from playground.ui.clicks import pressed
from playground.ui.session import PAGE_GATE, track_job

REFRESH = max(0.4, LIMITS.live_refresh)
SPAN = (0.1, 5.0)  # the slider's range (LandscapeOptions.RANGES allows a little more)
MAP_SIZE = 380  # pixels: fits the Train tab's run column


def max_resolution() -> int:
    """The largest odd grid side this server's evaluation cap allows."""
    lo, hi = LandscapeOptions.RANGES["resolution"]
    side = min(int(hi), math.isqrt(LIMITS.max_landscape))
    return max(int(lo), side if side % 2 else side - 1)


def landscape_section(runner: Runner) -> None:
    """The expander under a run: compute its landscape when the run's weights hold still."""
    snap = runner.snapshot(max_points=2)
    if snap.config is None or snap.n_rows == 0:
        return
    job: Job | None = st.session_state.get("land_job")
    if job is not None and st.session_state.get("land_run") != snap.run_id:
        job.cancel()  # a new run: the old landscape belongs to weights that are gone
        st.session_state.land_job = job = None
    still = snap.state == "paused" or runner.pause_requested or not runner.alive
    with st.expander("🏔️ Loss landscape around these weights", expanded=job is not None):
        st.caption("The loss on a plane through the run's current weights: the path it took, drawn "
                   "on it, and the loss along the step it would take next.")
        options = _options()
        a, b = st.columns([3, 1])
        if pressed(a, "Compute the landscape", key="land_start", type="primary",
                    disabled=not still or bool(job and job.alive),
                    help=None if still else "Pause the run (or let it finish) first."):
            job = _start(runner, options, snap.run_id)
        if pressed(b, "Cancel", key="land_cancel", disabled=not (job and job.alive)):
            job.cancel()
        if not still:
            st.caption("Pause the run, or let it finish, to look at the landscape around its weights.")
        if job is not None:
            _job_view(job)


def _options() -> LandscapeOptions:
    """Directions, resolution and span, within the server's cap."""
    a, b, c = st.columns(3)
    kind = a.radio("Directions", list(DIRECTIONS), key="land_dirs", horizontal=True,
                   format_func=lambda k: {"pca": "the path's plane (PCA)", "random": "random"}[k],
                   help="\n".join(f"- **{k}**: {doc}" for k, doc in DIRECTIONS.items()))
    top = max_resolution()
    lo = int(LandscapeOptions.RANGES["resolution"][0])
    res = b.slider("Resolution", lo, top, min(21, top), 2, key="land_res",
                   help=f"Points per side (odd, so the current weights are on the grid): "
                        f"resolution² loss evaluations; this server allows {LIMITS.max_landscape:,}.")
    span = c.slider("Range", *SPAN, 1.2, 0.1, key="land_span",
                    help="Half-width of the map. Random directions: 1 = each filter moved by its own "
                         "size. The path's plane: 1 = the farthest the path went from here.")
    return LandscapeOptions(directions=kind, resolution=int(res), span=float(span))


def _start(runner: Runner, options: LandscapeOptions, run_id: int) -> Job | None:
    """Queue the job on the run's saved state; one sentence if the weights are still moving."""
    parts = runner.landscape_parts()
    if parts is None:
        st.warning("The run's weights are still moving: pause it (or let it finish) first.")
        return None
    job = track_job(Job("Landscape", "landscape", (*parts, options)).start())
    st.session_state.update(land_job=job, land_run=run_id, land_options=options,
                            land_optimizer=parts[0].optimizer)
    return job


def _job_view(job: Job) -> None:
    """A fragment redraws the progress while the job runs, then the charts."""
    @st.fragment(run_every=REFRESH if job.alive else None)
    @PAGE_GATE.gated
    def view() -> None:
        snap = job.snapshot()
        status = snap.get("status", "")
        if status == "queued":
            st.caption(f"🟡 queued for a free worker (position {snap.get('position', 1)})")
        elif status == "running":
            done = snap.get("evaluations", 0)
            st.progress(min(1.0, snap.get("progress", 0.0)),
                        text=f"{done:,} loss evaluations" if done else "starting")
        elif status == "cancelled":
            st.caption("Cancelled.")
        if snap.get("message"):
            (st.error if status == "error" else st.warning)(snap["message"])
        if status == "done" and snap.get("result") is not None:
            show(snap["result"], st.session_state.get("land_optimizer", "sgd"))
        if st.session_state.get("land_polling") and not job.alive:
            st.session_state.land_polling = False
            st.rerun(scope="app")  # the buttons outside this fragment change with the job
        st.session_state.land_polling = job.alive
    view()


def show(land: Landscape, optimizer: str) -> None:
    """The contour map, the slice along the next step, and what they say (stacked: the run's
    column is narrow, and a map wants to be square)."""
    st.markdown(f"**The loss around step {land.step:,}** (centre: {land.centre_loss:.4g})")
    st.altair_chart(charts.contour_chart(land, size=MAP_SIZE), width="content", key="land_map")
    held = (f"The plane holds {land.in_plane:.0%} of the path's length²"
            + (": a path through many weights is nearly at right angles to a random plane, so it "
               "barely shows here." if land.kind == "random" else "."))
    st.caption(f"Directions: {land.note}. {held} White square: the start; gold diamond: now (the "
               "centre); the path's tooltips give the loss at the recorded weights, which lie a "
               "little off the plane.")
    st.markdown("**Along the next step** (0 = now, 1 = where the step lands)")
    st.altair_chart(charts.slice_chart(land, width=MAP_SIZE, height=220), width="content",
                    key="land_slice")
    st.info(verdict(land, optimizer))
    st.caption(f"Each loss is over {land.data}, in eval mode without gradients "
               f"({land.evaluations:,} evaluations).")
