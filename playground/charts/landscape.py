"""A run's loss landscape as Altair charts: the 2-D slice as log-banded filled contours with the
trajectory projected on it, and the 1-D slice along the next update with where the run is and
where that step lands. Pure functions of a computed `Landscape`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import altair as alt
import numpy as np
import pandas as pd

if TYPE_CHECKING:  # the computed landscape comes in; charts import no torch
    from playground.compare.landscape import Landscape

LEVELS = 14  # filled contour bands
PATH_COLOR = "#ff4fd8"
NOW_COLOR = "#ffb000"  # the current weights, on the map and on the slice


def bands(grid: np.ndarray, levels: int = LEVELS) -> tuple[np.ndarray, np.ndarray]:
    """Each cell's band (0 = lowest) by log10 of its height above the map's minimum, and that
    height's log (non-finite cells go in the top band)."""
    finite = np.isfinite(grid)
    if not finite.any():
        return np.full(grid.shape, levels - 1.0), np.full(grid.shape, np.nan)
    lo, hi = float(grid[finite].min()), float(grid[finite].max())
    floor = (hi - lo) * 1e-4 + 1e-12  # so the minimum is finite on a log scale
    logs = np.where(finite, np.log10(np.where(finite, grid, hi) - lo + floor), np.nan)
    top, bottom = np.nanmax(logs), np.nanmin(logs)
    band = np.floor((logs - bottom) / max(top - bottom, 1e-9) * (levels - 1e-9))
    return np.where(finite, band, levels - 1.0), logs


def cells(land: Landscape) -> pd.DataFrame:
    """One rectangle per grid point, with its loss and band."""
    step = float(land.axis[1] - land.axis[0])
    frame = land.frame()
    band, _ = bands(land.grid)
    frame["band"] = band.ravel()
    frame["a0"], frame["a1"] = frame["a"] - step / 2, frame["a"] + step / 2
    frame["b0"], frame["b1"] = frame["b"] - step / 2, frame["b"] + step / 2
    frame["shown"] = [f"{v:.4g}" for v in frame["loss"]]  # inf / nan read as such in the tooltip
    return frame.drop(columns="loss")


def axis_titles(land: Landscape) -> tuple[str, str]:
    """What each axis is, in words (PCA's titles carry the share of the path's variance)."""
    if land.kind == "pca" and land.explained is not None:
        return (f"PCA 1 ({land.explained[0]:.0%} of the path's variance)",
                f"PCA 2 ({land.explained[1]:.0%})")
    if land.kind == "pca":
        return "the path's direction", "a random direction across it"
    return "random direction 1", "random direction 2"


def contour_chart(land: Landscape, size: int = 420) -> alt.LayerChart:
    """The 2-D slice: filled log contours, the path (start to now) and the current weights."""
    half = float(land.axis[-1] + (land.axis[1] - land.axis[0]) / 2)
    scale = alt.Scale(domain=[-half, half], nice=False, zero=False)
    ta, tb = axis_titles(land)
    grid = alt.Chart(cells(land)).mark_rect().encode(
        x=alt.X("a0:Q", scale=scale, title=ta), x2="a1", y=alt.Y("b0:Q", scale=scale, title=tb),
        y2="b1", color=alt.Color("band:Q", scale=alt.Scale(scheme="viridis"), legend=None),
        tooltip=[alt.Tooltip("a:Q", format=".3g"), alt.Tooltip("b:Q", format=".3g"),
                 alt.Tooltip("shown:N", title="loss")])
    path = land.path
    xq, yq = alt.X("a:Q", scale=scale), alt.Y("b:Q", scale=scale)
    tips = ["step:Q", alt.Tooltip("loss:Q", format=".4g", title="loss at those weights")]
    line = alt.Chart(path).mark_line(color=PATH_COLOR, strokeWidth=2, clip=True).encode(
        x=xq, y=yq, order="step:Q", tooltip=tips)
    dots = alt.Chart(path.iloc[1:-1]).mark_circle(color=PATH_COLOR, size=28, opacity=1,
                                                    clip=True).encode(x=xq, y=yq, tooltip=tips)
    start = alt.Chart(path.iloc[:1]).mark_square(color="white", size=150, opacity=1, stroke="black",
                                                 strokeWidth=1, clip=True).encode(
        x=xq, y=yq, tooltip=tips)
    now = alt.Chart(path.iloc[-1:]).mark_point(shape="diamond", filled=True, color=NOW_COLOR,
                                               size=320, opacity=1, stroke="black",
                                               strokeWidth=1.2).encode(x=xq, y=yq, tooltip=tips)
    return alt.layer(grid, line, dots, start, now).properties(width=size, height=size).resolve_scale(
        color="independent")


def slice_frame(land: Landscape) -> pd.DataFrame:
    """The 1-D slice's finite points (a blown-up loss cannot be drawn)."""
    return land.line[np.isfinite(land.line["loss"])]


def slice_chart(land: Landscape, width: int = 420, height: int = 260) -> alt.LayerChart:
    """The loss along the next update: 0 is now, 1 is where the step lands; the dashed rule is
    the lowest point along it."""
    line = slice_frame(land)
    positive = len(line) and (line["loss"] > 0).all()
    spread = line["loss"].max() / line["loss"].min() if positive else 1.0
    y = alt.Y("loss:Q", title="loss", scale=alt.Scale(type="log" if spread > 50 else "linear",
                                                        zero=False))
    x = alt.X("t:Q", title="steps along the next update", scale=alt.Scale(nice=False))
    curve = alt.Chart(line).mark_line(color="#377eb8", strokeWidth=2).encode(
        x=x, y=y, tooltip=[alt.Tooltip("t:Q", format=".2f"), alt.Tooltip("loss:Q", format=".4g")])
    marks = line[line["t"].isin([0.0, 1.0])].assign(
        where=lambda f: np.where(f["t"] == 0, "now", "where the step lands"))
    points = alt.Chart(marks).mark_point(filled=True, size=140, opacity=1).encode(
        x=x, y=y, color=alt.Color("where:N", scale=alt.Scale(
            domain=["now", "where the step lands"], range=[NOW_COLOR, "#e41a1c"]),
            legend=alt.Legend(orient="top", title=None)),
        tooltip=["where:N", alt.Tooltip("loss:Q", format=".4g")])
    layers = [curve, points]
    if land.best_t is not None:
        best = pd.DataFrame({"t": [land.best_t]})
        layers.append(alt.Chart(best).mark_rule(strokeDash=[4, 4], color="#555").encode(
            x="t:Q", tooltip=[alt.Tooltip("t:Q", title="lowest along the step", format=".2f")]))
    return alt.layer(*layers).properties(width=width, height=height)
