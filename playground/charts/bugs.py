"""The bug lab's chart: the correct and the buggy loop's training loss over steps, and below it what
the bug's sentence says to watch (gradient norm, validation loss or accuracy, retained graph)."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from playground.charts.common import MIN_POSITIVE

COLOURS = {"correct": "#2ca02c", "buggy": "#d62728"}
LOG_SCALED = ("loss", "grad_norm", "val_loss")  # positive values spanning decades


def lab_frame(frames: list[pd.DataFrame], sides: tuple[str, ...]) -> pd.DataFrame:
    """Both sides' (step, loss, value) in long format, with a `side` column."""
    parts = [f.assign(side=side) for side, f in zip(sides, frames, strict=True)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["step", "loss", "value", "side"])


def _panel(data: pd.DataFrame, column: str, title: str, log: bool, height: int) -> alt.Chart:
    """One panel: a line per side, finite points only (log panels floored above zero)."""
    shown = data[["step", column, "side"]].rename(columns={column: "y"})
    shown = shown[np.isfinite(shown["y"].astype(float))]
    if log:
        shown = shown.assign(y=shown["y"].astype(float).clip(lower=MIN_POSITIVE))
    sides = list(COLOURS)
    return alt.Chart(shown).mark_line(point=len(shown) < 120).encode(
        x=alt.X("step:Q", scale=alt.Scale(domainMin=0, nice=False)),
        y=alt.Y("y:Q", title=title, scale=alt.Scale(type="log" if log else "linear")),
        color=alt.Color("side:N", scale=alt.Scale(domain=sides, range=[COLOURS[s] for s in sides]),
                        legend=alt.Legend(orient="top", title=None)),
        tooltip=["side:N", "step:Q", alt.Tooltip("y:Q", title=title, format=".4g")],
    ).properties(height=height)


def lab_chart(data: pd.DataFrame, chart: str, title: str, height: int = 200) -> alt.VConcatChart:
    """Training loss on top; the watched value below (unless it is the loss itself)."""
    panels = [_panel(data, "loss", "training loss", True, height)]
    if chart != "loss":
        panels.append(_panel(data, "value", title, chart in LOG_SCALED, height))
    return alt.vconcat(*panels).resolve_scale(color="shared")
