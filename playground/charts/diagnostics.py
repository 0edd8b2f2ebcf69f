"""The diagnostics charts: gradient norm and update / weight ratio over steps, for the whole model
(from the history, every step and every RATIO_EVERY steps) and per layer (from the per-parameter
side table, layer_stats.py), with the ratio's guide band. Pure functions of tables; cached specs
with fresh data, as charts.run does."""

from __future__ import annotations

import functools

import altair as alt
import numpy as np
import pandas as pd

from playground.charts.annotations import mark_layers
from playground.charts.common import hover_rows, spec_without_main_data, zoomable
from playground.charts.run import smooth
from playground.history import Table, thin_indices
from playground.layer_names import layer_of

GUIDE = 1e-3  # the usual healthy update / weight ratio per step
BAND = (1e-4, 1e-2)  # a decade either side of it
GUIDE_TEXT = ("Green band: an update / weight ratio of about 1e-3 per step (1e-4 to 1e-2) is the usual "
              "healthy size; far above it the learning rate is too large, far below it the weights "
              "barely move.")
WHOLE = "whole model"
SERIES_POINTS = 200  # per series: these charts redraw with the loss chart, several times a second,
# and in Chromium a series' cost grows with its points (docs/benchmarks.md: app vs headless)
KINDS = {"grad": "gradient norm", "ratio": "update / weight"}
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
           "#7f7f7f", "#d62728"]


def parameter_names(layers: Table | None) -> list[str]:
    """The parameters a per-parameter table holds, in the model's order."""
    return [] if layers is None else [c[5:] for c in layers.columns if c.startswith("grad:")]


def groups(names: list[str]) -> dict[str, list[str]]:
    """The series drawn beside the whole model: one per layer when the model has several, one per
    parameter when it has one layer of several (weight and bias), none for a single tensor."""
    by_layer: dict[str, list[str]] = {}
    for name in names:
        by_layer.setdefault(layer_of(name), []).append(name)
    if len(by_layer) > 1:
        return by_layer
    return {n: [n] for n in names} if len(names) > 1 else {}


def _root_sum(layers: Table, prefix: str, names: list[str]) -> np.ndarray:
    """The norm of several tensors together, from their norms."""
    return np.sqrt(sum(layers[f"{prefix}:{n}"] ** 2 for n in names))


def _series(step: np.ndarray, value: np.ndarray, name: str, smoothing: float,
            log_y: bool = True) -> pd.DataFrame:
    """One series in long format: positive finite values only (a log scale shows nothing else)."""
    keep = np.isfinite(value) & (value > 0)
    step, value = step[keep], value[keep]
    smoothed = smooth(value, smoothing, log_y)  # as the axis shows them; every point, then thinned
    shown = thin_indices(len(step), SERIES_POINTS)
    return pd.DataFrame({"step": step[shown], "series": name, "value": value[shown],
                         "smoothed": smoothed[shown], "hover": hover_rows(len(shown))})


def diagnostics_frame(kind: str, rows: Table, layers: Table | None,
                      smoothing: float = 0.0, log_y: bool = True) -> pd.DataFrame:
    """`kind` ("grad" or "ratio") over steps: the whole model, then each layer (long format)."""
    column = "grad_norm" if kind == "grad" else "update_ratio"
    frames = [_series(rows["step"], rows[column], WHOLE, smoothing, log_y)] if len(rows) else []
    if layers is not None and len(layers):
        for name, members in groups(parameter_names(layers)).items():
            value = (_root_sum(layers, "grad", members) if kind == "grad" else
                     _root_sum(layers, "update", members) / _root_sum(layers, "weight", members))
            frames.append(_series(layers["step"], value, name, smoothing, log_y))
    if not frames:
        return pd.DataFrame({"step": [], "series": [], "value": [], "smoothed": [], "hover": []})
    return pd.concat(frames, ignore_index=True)


def window(frame: pd.DataFrame, until: int, span: int) -> pd.DataFrame:
    """The rows of the `span` steps up to and including `until` (the steps before a divergence)."""
    return frame[(frame["step"] > until - span) & (frame["step"] <= until)]


@functools.lru_cache(maxsize=64)
def diagnostics_spec(kind: str, log_y: bool, series: tuple[str, ...] = (WHOLE,),
                     height: int = 200) -> str:
    """Faint raw lines, bold smoothed ones, one colour per series (the whole model in black), the
    run's marks (filled per draw: annotations.with_marks), and for the ratio its guide band."""
    title = KINDS[kind]
    sample = pd.DataFrame({"step": [1], "series": [WHOLE], "value": [1.0], "smoothed": [1.0],
                           "hover": [True]})
    y_scale = alt.Scale(type="log" if log_y else "linear", zero=False)
    colors = ["#222222", *PALETTE[:max(0, len(series) - 1)]]
    color = alt.Color("series:N", scale=alt.Scale(domain=list(series), range=colors),
                      legend=alt.Legend(orient="top", title=None, symbolOpacity=1)
                      if len(series) > 1 else None)
    x = alt.X("step:Q", title="step", scale=alt.Scale(domainMin=0, nice=False))
    tip = [alt.Tooltip("step:Q"), alt.Tooltip("series:N"),
           alt.Tooltip("value:Q", format=".3g", title=title)]
    raw = alt.Chart().mark_line(opacity=0.25).encode(
        x=x, y=alt.Y("value:Q", scale=y_scale, title=title), color=color, detail="series:N")
    line = alt.Chart().mark_line(strokeWidth=2).encode(
        x=x, y=alt.Y("smoothed:Q", scale=y_scale), color=color)
    near = alt.selection_point(fields=["step", "series"], nearest=True, on="pointerover",
                               empty=False)  # the tooltip of the point nearest the pointer
    tips = alt.Chart().mark_point(opacity=0, size=60).encode(  # on a few points: hover_rows
        x=x, y=alt.Y("smoothed:Q", scale=y_scale), tooltip=tip).add_params(near).transform_filter(
        alt.datum.hover)
    layers = [raw, line, tips]
    if kind == "ratio":
        layers = [*_guide(), *layers]
    layers += mark_layers()
    return spec_without_main_data(zoomable(alt.layer(*layers, data=sample)
                                             .properties(height=height)), canvas=True)


def _guide() -> list[alt.Chart]:
    """The ratio's guide: a green band from 1e-4 to 1e-2 and a dashed line at 1e-3."""
    band = alt.Chart(pd.DataFrame({"lo": [BAND[0]], "hi": [BAND[1]]})).mark_rect(
        color="#2ca02c", opacity=0.12).encode(y="lo:Q", y2="hi:Q")
    rule = alt.Chart(pd.DataFrame({"guide": [GUIDE]})).mark_rule(
        color="#2ca02c", strokeDash=[6, 4]).encode(y="guide:Q")
    return [band, rule]
