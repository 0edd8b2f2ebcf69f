"""The paths lesson's map: the surface as log-scaled filled contours, each path as it grows, the
current point, the gradient and the optimizer's running direction there, all in one Altair chart.

The surface's values come in as a grid (lessons/path_map.py evaluates it and caches the contour
frame and the spec per surface, setting and size; a refresh sends only the paths); a click on the
map is a point selection named START whose value is the clicked cell.
"""

from __future__ import annotations

import functools
import json
import math

import altair as alt
import numpy as np
import pandas as pd

Extent = tuple[float, float, float, float]  # x from, x to, y from, y to
GRID = 60  # cells per side of the contour map
LEVELS = 14  # filled contour bands
MAX_POINTS = 1500  # drawn per path (the history keeps every step)
START = "start"  # the selection a click on the map fills
ARROW = 0.09  # arrows are drawn this share of the map wide (their direction is what they show)
COLORS = ["#e41a1c", "#377eb8", "#ff7f00", "#984ea3", "#4daf4a", "#a65628", "#f781bf", "#111111"]


def cell_centres(extent: Extent, size: int = GRID) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of the centres of a size x size grid of cells over the map, as 2-D arrays: where
    the caller evaluates the surface for `surface_frame`."""
    x0, x1, y0, y1 = extent
    dx, dy = (x1 - x0) / size, (y1 - y0) / size
    xs = x0 + dx * (np.arange(size) + 0.5)
    ys = y0 + dy * (np.arange(size) + 0.5)
    return np.meshgrid(xs, ys)


def surface_frame(extent: Extent, values: np.ndarray, floor: float) -> pd.DataFrame:
    """One rectangle per grid cell, banded by log10(f - floor); `values` is the surface at
    `cell_centres(extent, len(values))` (computed outside: charts hold no torch)."""
    size = len(values)
    x0, x1, y0, y1 = extent
    dx, dy = (x1 - x0) / size, (y1 - y0) / size
    gx, gy = cell_centres(extent, size)
    logs = np.log10(np.maximum(values - floor, 0) + 1e-3)
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


def current_points(paths: pd.DataFrame) -> pd.DataFrame:
    """Each run's newest point (where it is now)."""
    return paths.groupby("run", sort=False).tail(1) if len(paths) else paths


def map_spec(contours: pd.DataFrame, extent: Extent, minima: tuple[tuple[float, float], ...],
             runs: tuple[str, ...] = ("run",), size: int = 440, clickable: bool = False,
             arrows: bool = True) -> str:
    """The map's Vega-Lite spec with the contours (`surface_frame`) inlined and the paths, points
    and arrows left as the named datasets PATH, NOW and ARROWS (see `fill`): built once per
    surface and size by the caller (lessons/path_map.py caches it), its data sent per refresh."""
    x0, x1, y0, y1 = extent
    sx = alt.Scale(domain=[x0, x1], nice=False, zero=False)
    sy = alt.Scale(domain=[y0, y1], nice=False, zero=False)
    contour = alt.Chart(contours).mark_rect().encode(
        x=alt.X("x:Q", scale=sx, title="x"), x2="x2", y=alt.Y("y:Q", scale=sy, title="y"), y2="y2",
        color=alt.Color("band:Q", scale=alt.Scale(scheme="viridis"), legend=None),
        tooltip=[alt.Tooltip("cx:Q", title="x"), alt.Tooltip("cy:Q", title="y"),
                 alt.Tooltip("f:Q", title="loss", format=".4g")])
    if clickable:
        contour = contour.add_params(alt.selection_point(name=START, fields=["cx", "cy"],
                                                         on="click", clear=False))
    run_scale = alt.Scale(domain=list(runs), range=COLORS[:len(runs)])
    color = alt.Color("run:N", scale=run_scale,
                      legend=alt.Legend(orient="bottom", title=None, columns=1)
                      if len(runs) > 1 else None)
    xq, yq = alt.X("x:Q", scale=sx), alt.Y("y:Q", scale=sy)
    line = alt.Chart(alt.NamedData(PATH)).mark_line(strokeWidth=2, opacity=0.85, clip=True).encode(
        x=xq, y=yq, order="step:Q", color=color,
        tooltip=["run:N", "step:Q", alt.Tooltip("loss:Q", format=".4g")])
    head = alt.Chart(alt.NamedData(NOW)).mark_point(
        filled=True, size=110, stroke="white", strokeWidth=1.5, opacity=1, clip=True).encode(
        x=xq, y=yq, color=alt.Color("run:N", scale=run_scale, legend=None),
        tooltip=["run:N", "step:Q", alt.Tooltip("loss:Q", format=".4g")])
    minima_frame = pd.DataFrame(minima, columns=["x", "y"])
    star = alt.Chart(minima_frame).mark_point(shape="cross", size=90, color="white",
                                              filled=True).encode(x=xq, y=yq)
    arrow_scale = alt.Scale(domain=list(ARROWS), range=["#ffffff", "#ff4fd8"])
    arrow_color = alt.Color("arrow:N", scale=arrow_scale,
                            legend=alt.Legend(orient="bottom", title=None))
    shaft = alt.Chart(alt.NamedData(ARROW_DATA)).mark_rule(strokeWidth=2.5).encode(
        x=xq, y=yq, x2="x2:Q", y2="y2:Q", color=arrow_color)
    tip = alt.Chart(alt.NamedData(ARROW_DATA)).mark_point(
        shape="triangle-up", filled=True, size=80, opacity=1).encode(
        x=alt.X("x2:Q", scale=sx), y=alt.Y("y2:Q", scale=sy),
        angle=alt.Angle("angle:Q", scale=None),
        color=alt.Color("arrow:N", scale=arrow_scale, legend=None),
        tooltip=["arrow:N", alt.Tooltip("size:N", title="length")])
    layers = [contour, star, line, head, *((shaft, tip) if arrows else ())]
    chart = alt.layer(*layers).properties(
        width=size, height=size).resolve_scale(color="independent")
    return json.dumps(chart.to_dict())


PATH, NOW, ARROW_DATA = "paths-data", "now-data", "arrow-data"
ARROWS = ("downhill (-gradient)", "optimizer's next step")


def fill(spec_json: str, paths: pd.DataFrame, arrows: pd.DataFrame | None = None,
         tag: str = "", records: bool = False) -> dict:
    """The cached map with this refresh's paths, points and arrows; a new `tag` per refresh
    makes the browser replace the data (see `with_data`). `records`: plain lists, for vl-convert.
    The spec is parsed once and shared: only its layer list and datasets are new per call."""
    base = _parsed(spec_json)
    arrows = arrows if arrows is not None else arrow_frame(0, 0, {}, (0, 1, 0, 1))
    frames = {PATH: paths, NOW: current_points(paths), ARROW_DATA: arrows}
    layers = []
    for layer in base["layer"]:
        name = layer.get("data", {}).get("name")
        layers.append({**layer, "data": {"name": name + tag}} if name in frames else layer)
    datasets = dict(base["datasets"])
    for name, frame in frames.items():
        datasets[name + tag] = (frame.astype(object).where(frame.notna(), None).to_dict("records")
                                if records else frame)
    return {**base, "layer": layers, "datasets": datasets}


@functools.lru_cache(maxsize=32)
def _parsed(spec_json: str) -> dict:
    """A map spec parsed once (callers copy what they change)."""
    return json.loads(spec_json)
