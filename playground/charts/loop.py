"""Pictures of tensors for the by-line view: numbers to colours (pure numpy) and per-layer bars
(Altair). Diverging blue-white-red for signed values (gradients, updates, momentum), white to
purple for values that are never negative (Adam's exp_avg_sq, a loss map)."""

from __future__ import annotations

import math

import altair as alt
import numpy as np
import pandas as pd

NEGATIVE = np.array([33, 102, 172], np.float32)  # blue
POSITIVE = np.array([178, 24, 43], np.float32)  # red
WHITE = np.array([255, 255, 255], np.float32)
PURPLE = np.array([84, 39, 143], np.float32)
MISSING = np.array([224, 224, 224], np.float32)  # no value here (a pixel outside the batch)
RATIO_GUIDE = 1e-3  # a healthy update is about a thousandth of its weight


def scale_of(values: np.ndarray) -> float:
    """The largest magnitude among the finite values (0 when there are none)."""
    finite = np.abs(values[np.isfinite(values)])
    return float(finite.max()) if finite.size else 0.0


def colours(values: np.ndarray, scale: float | None = None, signed: bool = True) -> np.ndarray:
    """A 2-D map as uint8 RGBA: diverging around 0 (`signed`) or white to purple, `scale` at the
    ends (the map's own largest magnitude by default); NaN drawn light grey."""
    scale = scale_of(values) if scale is None else scale
    finite = np.isfinite(values)
    t = np.where(finite, values, 0.0) / scale if scale > 0 else np.zeros(values.shape)
    t = np.clip(t, -1.0, 1.0)[..., None]
    if signed:
        rgb = np.where(t >= 0, WHITE + (POSITIVE - WHITE) * t, WHITE + (NEGATIVE - WHITE) * -t)
    else:
        rgb = WHITE + (PURPLE - WHITE) * np.abs(t)
    rgb = np.where(finite[..., None], rgb, MISSING)
    alpha = np.full(values.shape + (1,), 255.0)
    return np.concatenate([rgb, alpha], -1).round().astype(np.uint8)


def legend(signed: bool = True, width: int = 64) -> np.ndarray:
    """The colour scale as a strip (-scale ... 0 ... +scale, or 0 ... scale), uint8 RGBA."""
    ramp = np.linspace(-1.0 if signed else 0.0, 1.0, width)[None, :].repeat(6, 0)
    return colours(ramp, 1.0, signed)


def format_scale(scale: float) -> str:
    return "0" if scale == 0 else f"{scale:.2g}"


def layer_bars(values: dict[str, float], title: str, log: bool = False,
               guide: float | None = None) -> alt.LayerChart | alt.Chart:
    """One horizontal bar per layer (a norm or a ratio); `guide` draws a reference line."""
    frame = pd.DataFrame({"layer": list(values), "value": [
        v if math.isfinite(v) else 0.0 for v in values.values()]})
    if log:
        frame["value"] = frame["value"].clip(lower=1e-12)
    x = alt.X("value:Q", title=title, scale=alt.Scale(type="log") if log else alt.Undefined)
    mark = alt.Chart(frame).mark_circle(size=70, color="#4c78a8") if log else alt.Chart(
        frame).mark_bar(color="#4c78a8")  # a log axis has no zero for a bar to start from
    bars = mark.encode(
        x=x, y=alt.Y("layer:N", sort=None, title=None, axis=alt.Axis(labelOverlap=False, labelLimit=220)),
        tooltip=["layer", alt.Tooltip("value:Q", format=".3g")])
    if guide is None:
        return bars.properties(height=22 * len(frame) + 40)
    rule = alt.Chart(pd.DataFrame({"value": [guide]})).mark_rule(color="#2ca02c", strokeDash=[4, 3]
                                                                 ).encode(x="value:Q")
    return (bars + rule).properties(height=22 * len(frame) + 40)
