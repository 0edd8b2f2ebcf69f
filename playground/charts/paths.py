"""The paths lesson's map: the surface as log-scaled filled contours, each path as it grows, the
current point, the gradient and the optimizer's running direction there, all in one Altair chart.

The contour frame and the spec are cached per surface, setting and size (a refresh sends only the
paths); a click on the map is a point selection named START whose value is the clicked cell.
"""

from __future__ import annotations

import functools
import math

import altair as alt
import numpy as np
import pandas as pd

from playground import surfaces
from playground.config import RunConfig

GRID = 60  # cells per side of the contour map
LEVELS = 14  # filled contour bands
MAX_POINTS = 1500  # drawn per path (the history keeps every step)
START = "start"  # the selection a click on the map fills
ARROW = 0.09  # arrows are drawn this share of the map wide (their direction is what they show)
COLORS = ["#e41a1c", "#377eb8", "#ff7f00", "#984ea3", "#4daf4a", "#a65628", "#f781bf", "#111111"]


@functools.lru_cache(maxsize=32)
def surface_frame(surface: str, condition: float, rotation: float, size: int = GRID) -> pd.DataFrame:
    """One rectangle per grid cell, banded by log10(f - floor): computed once per surface and size."""
    cfg = RunConfig(task="paths", surface=surface, condition=condition, rotation=rotation)
    spec = surfaces.SURFACES[surface]
    x0, x1, y0, y1 = spec.extent
    dx, dy = (x1 - x0) / size, (y1 - y0) / size
    xs = x0 + dx * (np.arange(size) + 0.5)
    ys = y0 + dy * (np.arange(size) + 0.5)
    gx, gy = np.meshgrid(xs, ys)
    import torch

    values = surfaces.value(cfg, torch.from_numpy(gx), torch.from_numpy(gy)).numpy()
    logs = np.log10(np.maximum(values - spec.floor, 0) + 1e-3)
    lo, hi = float(logs.min()), float(logs.max())
    band = np.floor((logs - lo) / max(hi - lo, 1e-9) * (LEVELS - 1e-9))
    return pd.DataFrame({"x": (gx - dx / 2).ravel(), "x2": (gx + dx / 2).ravel(),
                         "y": (gy - dy / 2).ravel(), "y2": (gy + dy / 2).ravel(),
                         "cx": gx.ravel().round(3), "cy": gy.ravel().round(3),
                         "f": values.ravel(), "band": band.ravel()})


def path_frame(paths: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Every run's (step, x, y, loss), thinned to MAX_POINTS each, in long format."""
    parts = []
    for name, df in paths.items():
        df = df.dropna(subset=["x", "y"])
        if len(df) > MAX_POINTS:
            keep = np.unique(np.r_[np.linspace(0, len(df) - 1, MAX_POINTS).astype(int)])
            df = df.iloc[keep]
        parts.append(pd.DataFrame({"run": name, "step": df["step"], "x": df["x"], "y": df["y"],
                                   "loss": df["loss"]}))
    if not parts:
        return pd.DataFrame({"run": [], "step": [], "x": [], "y": [], "loss": []})
    return pd.concat(parts, ignore_index=True)


def arrow_frame(x: float, y: float, vectors: dict[str, tuple[float, float] | None],
                extent: tuple[float, float, float, float]) -> pd.DataFrame:
    """Arrows from the current point: each vector's direction, drawn ARROW of the map long."""
    length = ARROW * (extent[1] - extent[0])
    rows = []
    for name, vec in vectors.items():
        if vec is None:
            continue
        norm = math.hypot(*vec)
        if not math.isfinite(norm) or norm == 0:
            continue
        ux, uy = vec[0] / norm, vec[1] / norm
        rows.append({"arrow": name, "x": x, "y": y, "x2": x + length * ux, "y2": y + length * uy,
                     "angle": math.degrees(math.atan2(ux, uy)), "size": f"{norm:.3g}"})
    return pd.DataFrame(rows, columns=["arrow", "x", "y", "x2", "y2", "angle", "size"])


def path_chart(cfg: RunConfig, paths: pd.DataFrame, arrows: pd.DataFrame | None = None,
               size: int = 440, clickable: bool = False) -> alt.LayerChart:
    """The map: contours, the paths (one colour per run), where each is now, and the arrows."""
    spec = surfaces.SURFACES[cfg.surface]
    x0, x1, y0, y1 = spec.extent
    sx = alt.Scale(domain=[x0, x1], nice=False, zero=False)
    sy = alt.Scale(domain=[y0, y1], nice=False, zero=False)
    cells = surface_frame(cfg.surface, cfg.condition, cfg.rotation)
    contour = alt.Chart(cells).mark_rect(stroke=None).encode(
        x=alt.X("x:Q", scale=sx, title="x"), x2="x2", y=alt.Y("y:Q", scale=sy, title="y"), y2="y2",
        color=alt.Color("band:Q", scale=alt.Scale(scheme="viridis"), legend=None),
        tooltip=[alt.Tooltip("cx:Q", title="x"), alt.Tooltip("cy:Q", title="y"),
                 alt.Tooltip("f:Q", title="loss", format=".4g")])
    if clickable:
        contour = contour.add_params(alt.selection_point(name=START, fields=["cx", "cy"],
                                                         on="click", clear=False))
    runs = list(dict.fromkeys(paths["run"])) if len(paths) else ["run"]
    color = alt.Color("run:N", scale=alt.Scale(domain=runs, range=COLORS[:len(runs)]),
                      legend=alt.Legend(orient="top", title=None) if len(runs) > 1 else None)
    clipped = paths[(paths.x.between(x0, x1)) & (paths.y.between(y0, y1))] if len(paths) else paths
    line = alt.Chart(paths).mark_line(strokeWidth=2, clip=True).encode(
        x=alt.X("x:Q", scale=sx), y=alt.Y("y:Q", scale=sy), order="step:Q", color=color,
        tooltip=["run:N", "step:Q", alt.Tooltip("loss:Q", format=".4g")])
    now = clipped.groupby("run", sort=False).tail(1) if len(clipped) else clipped
    head = alt.Chart(now).mark_point(filled=True, size=90, stroke="white", strokeWidth=1.5,
                                     opacity=1).encode(x=alt.X("x:Q", scale=sx),
                                                       y=alt.Y("y:Q", scale=sy), color=color)
    minima = pd.DataFrame(spec.minima, columns=["x", "y"]) if cfg.surface != "bowl" else \
        pd.DataFrame({"x": [0.0], "y": [0.0]})
    star = alt.Chart(minima).mark_point(shape="cross", size=80, color="white").encode(
        x=alt.X("x:Q", scale=sx), y=alt.Y("y:Q", scale=sy))
    layers = [contour, star, line, head]
    if arrows is not None and len(arrows):
        acolor = alt.Color("arrow:N", scale=alt.Scale(range=["#ffffff", "#ff4fd8"]),
                           legend=alt.Legend(orient="bottom", title=None))
        layers.append(alt.Chart(arrows).mark_rule(strokeWidth=2.5).encode(
            x="x:Q", y="y:Q", x2="x2", y2="y2", color=acolor))
        layers.append(alt.Chart(arrows).mark_point(shape="triangle-up", filled=True, size=70,
                                                   opacity=1).encode(
            x="x2:Q", y="y2:Q", angle=alt.Angle("angle:Q", scale=None), color=acolor,
            tooltip=["arrow:N", alt.Tooltip("size:N", title="length")]))
    return alt.layer(*layers).properties(width=size, height=size).resolve_scale(color="independent")
