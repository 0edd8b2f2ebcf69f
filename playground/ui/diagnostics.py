"""The diagnostics panel under the loss chart (gradient norm and update / weight ratio, per layer),
and after a divergence its autopsy: the tensor that blew up first, the steps before it, and one
click to retry from the last good weights at lr / 10 or to restart from the initial weights."""

from __future__ import annotations

import math
import time

import pandas as pd
import streamlit as st

from playground.charts import annotations
from playground.charts import diagnostics as charts
from playground.charts.common import with_data
from playground.serve import Snapshot
from playground.serve.ended_run import RETRY_FACTOR
from playground.ui import chart_data, setup
from playground.ui.clicks import pressed
from playground.ui.session import get_runner

BEFORE = 60  # steps before a divergence the autopsy draws
KINDS = ("grad", "ratio")
REDRAW_S = 1.0  # while a run trains, these charts take new data once a second, the loss chart
# four times: the same bytes again cost Chromium nothing (Streamlit compares them), and redrawing
# these two cost it more than the loss chart (docs/benchmarks.md: app vs headless)


def marks(snap: Snapshot) -> tuple[annotations.Mark, ...]:
    """The run's marks for every chart over steps: events and the best checkpoint (the run's own
    step: the snapshot's rows are thinned, and may not hold it)."""
    last = float(snap.rows["step"][-1]) if len(snap.rows) else None
    return annotations.marks(snap.events, snap.best_step, last)


def panel(snap: Snapshot, log_y: bool, smoothing: float) -> None:
    """Under the loss chart: the autopsy of a diverged run, then gradient norm and update ratio."""
    if snap.config is None or not len(snap.rows):
        return
    found = marks(snap)
    autopsy = (snap.view or {}).get("autopsy")
    if autopsy is not None and snap.state == "diverged":
        _autopsy(snap, autopsy, log_y, found)
    st.markdown(heading(snap))
    _charts(snap, log_y, smoothing, found, f"dg-{snap.run_id}-{smoothing}-{log_y}")
    st.caption(charts.GUIDE_TEXT)


def heading(snap: Snapshot) -> str:
    """The panel's title line (markdown), naming the layers when the run records them."""
    return ("**Diagnostics** · gradient norm and update / weight ratio"
            + (", per layer" if snap.layers is not None and len(snap.layers) else ""))


def _charts(snap: Snapshot, log_y: bool, smoothing: float, found: tuple, tag: str,
            until: int | None = None) -> None:
    """The two charts, one above the other (only the steps before `until`, if given)."""
    if until is None:
        built, found = _version(snap, (smoothing, log_y), found)
    else:
        built = snap.n_rows
    tag = f"{tag}-{built}"  # the same name for the same data (Streamlit then sends nothing new)
    for kind in KINDS:
        name = f"{tag}-{kind}"
        series, data = chart_data.kept(f"diagnostics-{kind}{'' if until is None else '-autopsy'}", name,
                                       lambda kind=kind: _data(snap, kind, smoothing, until, log_y))
        spec = charts.diagnostics_spec(kind, log_y, series, 250)  # the legend and axis fit inside
        st.vega_lite_chart(spec=chart_data.with_marks(with_data(spec, data, name), found),
                           width="stretch")


def _data(snap: Snapshot, kind: str, smoothing: float, until: int | None,
          log_y: bool = True) -> tuple[tuple[str, ...], bytes]:
    """One chart's series names and its data as Arrow bytes, from this snapshot."""
    frame = charts.diagnostics_frame(kind, snap.rows, snap.layers, smoothing, log_y)
    if until is not None:
        frame = charts.window(frame, until, BEFORE)
    series = (charts.WHOLE, *(s for s in frame["series"].unique() if s != charts.WHOLE))
    return series, chart_data.arrow(frame)


def _version(snap: Snapshot, look: tuple[float, bool], found: tuple) -> tuple[int, tuple]:
    """The history length the charts show, and the marks drawn with it: while the run trains, new
    every REDRAW_S seconds, else the latest (a queued or paused page redraws the same version, so
    its data is not built again: ui/chart_data.py). The marks are kept with the data: the ★ best
    moves with almost every redraw of a descending run, and a new mark is a new chart for the
    browser as much as new data is."""
    key, now = (snap.run_id, look), time.monotonic()  # look: the smoothing and the log axis
    kept = st.session_state.get("diagnostics_version")
    if snap.state == "running" and kept is not None and kept[0] == key and now - kept[1] < REDRAW_S:
        return kept[2], kept[3]
    if kept is not None and kept[0] == key and kept[2] == snap.n_rows:
        return snap.n_rows, found  # nothing new: the data is built already
    st.session_state["diagnostics_version"] = (key, now, snap.n_rows, found)
    return snap.n_rows, found


def _retry(lr: float) -> None:
    """Carry the ended run on at lr / 10, and put that rate in the sidebar: it is the run's own now,
    so the panel does not read it as a new setup and a share link holds it."""
    if get_runner().retry():
        setup.set_widgets({"lr": lr})

def _autopsy(snap: Snapshot, found: dict, log_y: bool, marks_: tuple) -> None:
    """What blew up first, the numbers at that step, the steps before it, and what to do."""
    with st.container(border=True):
        st.markdown(f"🔬 **Autopsy of step {found['step']:,}.** The first tensor to blow up: the "
                    f"**{found['tensor']}** of **`{found['parameter']}`** (layer "
                    f"`{found['layer']}`, a {found['module']}): {found['what']}.")
        best = snap.best_step
        st.caption("Read in the order things happen: the last update made the weights, the weights "
                   "made this step's loss, the loss made its gradients. The diverging step was not "
                   "applied, and the run kept its last good weights"
                   + (f" (the best, of step {best:,})." if best is not None else "."))
        st.dataframe(_table(found), hide_index=True, width="stretch")
        if found["step"] > BEFORE:  # a shorter run: the panel below already shows every step
            st.caption(f"The {BEFORE} steps before it (smoothing off):")
            _charts(snap, log_y, 0.0, marks_, f"ap-{snap.run_id}", until=found["step"])
        else:
            st.caption("The diagnostics below show the gradient norm and the update ratio of every "
                       "step before it.")
        lr = snap.base_lr * RETRY_FACTOR
        a, b = st.columns(2)
        if a.button(f"↩️ Retry at lr {lr:.3g} (÷10)", key="retry_lower_lr", type="primary",
                    width="stretch", on_click=_retry, args=(lr,),  # the work is in its callback
                    help="Carry this run on from the last good weights it kept, at a tenth of its "
                         "learning rate."):
            st.rerun(scope="app")
        if pressed(b, "⏮️ Restart from step 0", key="restart_initial", width="stretch",
                    help="The same settings and seed from the initial weights (the same seed "
                         "gives the same first weights)."):
            get_runner().restart()
            st.rerun(scope="app")


def _table(found: dict) -> pd.DataFrame:
    """Each parameter at the diverging step: gradient and weight norms, and how much they grew."""
    def times(x: float) -> str:
        return "" if math.isnan(x) else "∞" if math.isinf(x) else f"{x:,.3g}x"
    return pd.DataFrame([{"parameter": r["parameter"], "shape": "×".join(map(str, r["shape"])),
                          "gradient norm": f"{r['grad_norm']:.3g}",
                          "gradient grew": times(r["grad_growth"]),
                          "weight norm": f"{r['weight_norm']:.3g}",
                          "weights grew": times(r["weight_growth"]),
                          "last update / weight": "" if math.isnan(r.get("ratio", math.nan))
                          else f"{r['ratio']:.3g}"} for r in found["table"]])
