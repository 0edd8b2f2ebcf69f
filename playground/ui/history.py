"""Runs of this session: every finished run is kept (bounded), can be overlaid, restored, deleted."""

from __future__ import annotations

from dataclasses import dataclass

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from playground.charts import run as charts
from playground.charts.common import zoomable
from playground.history import Table, thin
from playground.serve import FINISHED, LIMITS, Snapshot

POINTS = 600  # history points kept per archived run (the full CSV is downloadable while it runs)


@dataclass(frozen=True)
class ArchivedRun:
    """What a finished run leaves in the session."""

    run_id: int
    name: str
    config: object
    rows: Table
    image: np.ndarray | None
    status: str
    final_loss: float | None


def archive(snap: Snapshot) -> None:
    """Keep a finished run once (called on every poll; cheap when already kept)."""
    if snap.state not in FINISHED or snap.config is None or not len(snap.rows):
        return
    runs: list[ArchivedRun] = st.session_state.setdefault("run_history", [])
    if any(r.run_id == snap.run_id for r in runs):
        return
    cfg = snap.config
    name = f"#{len(runs) + 1} {cfg.task}:{cfg.model} {cfg.optimizer} lr={charts.format_lr(cfg.lr)}"
    last = snap.rows["loss"][-1]
    runs.append(ArchivedRun(snap.run_id, name, cfg, thin(snap.rows, POINTS), snap.image,
                            snap.state, float(last) if np.isfinite(last) else None))
    del runs[:-LIMITS.max_runs]


def _restore(run: ArchivedRun) -> None:
    """Put an old run's settings back into the widgets."""
    from playground.ui.setup import load_into_widgets

    load_into_widgets(run.config, overwrite=True)
    st.session_state.sprite, st.session_state.pixels = run.config.sprite, run.config.pixels


def _delete(run_id: int) -> None:
    st.session_state.run_history = [r for r in st.session_state.get("run_history", [])
                                    if r.run_id != run_id]


def history_panel() -> None:
    """A table of this session's runs, an overlay chart, restore and delete."""
    runs: list[ArchivedRun] = st.session_state.get("run_history", [])
    with st.expander(f"🗂️ Runs this session ({len(runs)})", expanded=False):
        if not runs:
            st.caption("Finished runs appear here so you can compare them.")
            return
        table = pd.DataFrame([{"run": r.name, "status": r.status, "final loss": r.final_loss,
                               "steps": int(r.rows["step"][-1])} for r in runs])
        st.dataframe(table, hide_index=True, width="stretch")
        names = [r.name for r in runs]
        chosen = st.multiselect("Overlay on one chart", names, default=names[-3:],
                                key="history_overlay")
        picked = [r for r in runs if r.name in chosen]
        if picked:
            st.altair_chart(overlay_chart(picked), width="stretch")
        which = st.selectbox("Run", names, index=len(names) - 1, key="history_pick")
        run = next(r for r in runs if r.name == which)
        a, b = st.columns(2)
        a.button("Restore its settings", key="history_restore", on_click=_restore, args=(run,))
        b.button("Delete it", key="history_delete", on_click=_delete, args=(run.run_id,))


def overlay_chart(runs: list[ArchivedRun]) -> alt.Chart:
    """Loss curves of several runs, one colour each, log-y."""
    frames = [pd.DataFrame({"step": r.rows["step"], "loss": r.rows["loss"], "run": r.name})
              for r in runs]
    data = pd.concat(frames, ignore_index=True)
    data = data[np.isfinite(data["loss"])]
    data["loss"] = data["loss"].clip(lower=charts.MIN_POSITIVE)
    return zoomable(alt.Chart(data).mark_line().encode(
        x="step:Q", y=alt.Y("loss:Q", scale=alt.Scale(type="log")),
        color=alt.Color("run:N", legend=alt.Legend(orient="bottom", columns=1)),
        tooltip=["run:N", "step:Q", alt.Tooltip("loss:Q", format=".4g")],
    ).properties(height=260))
