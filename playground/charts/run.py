"""Chart and picture builders for the page: pure functions of history rows and arrays (no Streamlit)."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd

from playground.charts.annotations import mark_layers, marks, with_named
from playground.charts.common import (
    MIN_POSITIVE,
    format_lr,
    hover_rows,
    spec_without_main_data,
    with_data,
    zoomable,
)
from playground.history import COLUMNS, Table

INFERNO = np.array([[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]],
                   dtype=np.float32)


def history_frame(rows: Table) -> pd.DataFrame:
    """The step columns of a history, every row: a diverged run's blow-up is drawn too (at the
    chart's ceiling, see `loss_frame`)."""
    return pd.DataFrame({c: rows[c] for c in COLUMNS})


def smooth(values: pd.Series | np.ndarray, smoothing: float, log: bool = False) -> np.ndarray:
    """TensorBoard-style debiased exponential moving average (0 = raw, 0.99 = very smooth).

    `log`: average the logarithms (positive values only), as a log axis shows them. A linear
    average of a loss that drops ten decades in one step (the "Just right" experiment) fell one
    decade every few steps on a log axis, drawing a slow descent that never happened."""
    x = np.asarray(values, dtype=np.float64)
    if smoothing <= 0 or x.size == 0:
        return x
    if log:
        return np.exp(smooth(np.log(np.maximum(x, np.finfo(np.float64).tiny)), smoothing))
    out = np.empty_like(x)
    acc, norm = 0.0, 0.0
    for i, v in enumerate(x.tolist()):  # plain floats: ~0.3 ms for 2,000 points
        acc = smoothing * acc + v
        norm = smoothing * norm + 1.0
        out[i] = acc / norm
    return out


CEILING = 1e3  # losses above this many times the first (or non-finite ones) are drawn at it


def loss_range(loss: np.ndarray) -> tuple[float, float]:
    """(floor, ceiling) for a log-scale loss chart that follows the data: the floor sits a decade
    under the smallest positive loss (exact zeros are drawn there), the ceiling at CEILING x the
    first loss (a blow-up is drawn there, marked, instead of squashing the rest of the curve)."""
    finite = loss[np.isfinite(loss)]
    positive = finite[finite > 0]
    floor = float(positive.min()) / 10 if len(positive) else MIN_POSITIVE
    first = float(finite[0]) if len(finite) else 1.0
    return floor, max(CEILING * max(abs(first), floor), floor * 10)


def clipped(values: pd.Series | np.ndarray, floor: float, ceiling: float) -> dict[str, np.ndarray]:
    """The columns every loss chart draws for raw losses: `loss` held between floor and ceiling
    (not-a-number at the ceiling), `true_loss` for tooltips, and `blown` where the true loss was
    above the ceiling or not a number (a diverging step, marked by `blown_marks`)."""
    raw = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(raw)
    return {"loss": np.clip(np.where(finite, raw, ceiling), floor, ceiling),
            "true_loss": np.where(finite, raw, np.nan), "blown": ~finite | (raw > ceiling)}


def blown_marks(x: alt.X, y: alt.Y, tooltip: list | None = None) -> alt.Chart:
    """Red crosses on the rows `clipped` marked blown: the loss ran past the chart's ceiling."""
    return alt.Chart().mark_point(shape="cross", color="#d62728", size=90, filled=True).encode(
        x=x, y=y, tooltip=tooltip or alt.Undefined).transform_filter(alt.datum.blown)


def loss_frame(df: pd.DataFrame, smoothing: float, log_y: bool = True) -> pd.DataFrame:
    """The columns the loss chart draws: raw and smoothed loss between the floor and the ceiling
    (smoothed as the axis shows it: `smooth`'s `log`), and where the loss blew past it
    (`clipped`)."""
    raw = df["loss"].to_numpy(dtype=np.float64)
    floor, ceiling = loss_range(raw)
    columns = clipped(raw, floor, ceiling)
    return pd.DataFrame({"step": df["step"].to_numpy(), "epoch": df["epoch"].to_numpy(),
                         **columns, "lr": df["lr"].to_numpy(),
                         "smoothed": np.clip(smooth(columns["loss"], smoothing, log_y), floor,
                                             ceiling),
                         "hover": hover_rows(len(raw))})


def loss_chart(df: pd.DataFrame, *, log_y: bool = True, smoothing: float = 0.6,
               events: list[tuple[int, str, float]] = (), epoch_starts: list[int] = (),
               height: int = 260, best: int | None = None) -> alt.LayerChart:
    """Loss against step: faint raw line, smoothed line, hover tooltips, event and epoch marks."""
    last = float(df["step"].max()) if len(df) else None
    return _loss_layers(loss_frame(df, smoothing, log_y), log_y, marks(events, best, last),
                        list(epoch_starts), height)


EPOCHS = "epoch-starts"  # the loss chart's epoch rules: a named dataset filled per draw


@functools.lru_cache(maxsize=128)
def loss_spec(log_y: bool, epochs: bool = False, height: int = 300, points: bool = False) -> str:
    """The loss chart's Vega-Lite spec without its data, built by Altair once per look; the
    run's marks and (`epochs`) its epoch rules are data too (annotations.with_marks, with_epochs).

    Altair's spec building and validation cost ~50-100 ms of GIL per chart, so the page sends this
    cached spec plus fresh data. (The epoch rules were once part of the spec: a new spec for every
    new epoch, at every refresh of a run's first 40 epochs.)
    """
    sample = loss_frame(pd.DataFrame({"step": [1], "epoch": [1], "loss": [1.0], "lr": [0.01]}), 0)
    return spec_without_main_data(_loss_layers(sample, log_y, None, None if epochs else [],
                                               height, points), canvas=True)


def epoch_frame(starts: Sequence[int]) -> pd.DataFrame:
    """The steps where epochs begin, as the rules of `loss_spec(epochs=True)` read them."""
    return pd.DataFrame({"step": list(starts)}, dtype="int64")


def with_epochs(spec: dict, starts: Sequence[int], data: object = None) -> dict:
    """Fill a `loss_spec(epochs=True)` with the steps where epochs begin (`data`: their
    `epoch_frame`, already encoded)."""
    starts = tuple(starts)
    return with_named(spec, EPOCHS, f"{EPOCHS}-{len(starts)}-{abs(hash(starts)):x}",
                      epoch_frame(starts) if data is None else data)


def _loss_layers(data: pd.DataFrame, log_y: bool, found: tuple | None,
                 epoch_starts: list | None, height: int, points: bool = False) -> alt.LayerChart:
    """The loss chart's layers over one top-level dataset (`epoch_starts` None: rules over the
    named dataset that `with_epochs` fills)."""
    y_scale = alt.Scale(type="log" if log_y else "linear", zero=False)
    x = alt.X("step:Q", title="step", scale=alt.Scale(domainMin=0, nice=False))
    base = alt.Chart().encode(x=x)
    raw = base.mark_line(opacity=0.25, color="#1f77b4").encode(
        y=alt.Y("loss:Q", scale=y_scale, title="loss"))
    line = base.mark_line(color="#1f77b4", strokeWidth=2, point=points).encode(
        y=alt.Y("smoothed:Q", scale=y_scale))
    hover = alt.selection_point(fields=["step"], nearest=True, on="pointerover", empty=False)
    points = base.mark_point(opacity=0, size=60).encode(
        y=alt.Y("loss:Q", scale=y_scale),
        tooltip=[alt.Tooltip("step:Q"), alt.Tooltip("epoch:Q"),
                 alt.Tooltip("true_loss:Q", format=".4g", title="loss"),
                 alt.Tooltip("smoothed:Q", format=".4g"), alt.Tooltip("lr:Q", format=".3g")],
    ).add_params(hover).transform_filter(alt.datum.hover)
    blown = blown_marks(x, alt.Y("loss:Q", scale=y_scale))
    layers = [raw, line, points, blown]
    layers += mark_layers(found)
    if epoch_starts is None:
        layers.append(_rules(alt.NamedData(name=EPOCHS), "#bbbbbb", dash=[2, 4]))
    elif epoch_starts:
        layers.append(_rules(pd.DataFrame({"step": epoch_starts}), "#bbbbbb", dash=[2, 4]))
    return zoomable(alt.layer(*layers, data=data).properties(height=height))


def _rules(frame: pd.DataFrame | alt.NamedData, color: str, dash: list[int]) -> alt.Chart:
    """Vertical rules at the frame's steps."""
    return alt.Chart(frame).mark_rule(color=color, strokeDash=dash).encode(x="step:Q")


def lr_log_scale(df: pd.DataFrame) -> bool:
    """Log-y for the LR chart when the LR spans more than 10x."""
    lrs = df["lr"][df["lr"] > 0]
    return bool(len(lrs) > 0 and lrs.max() / lrs.min() > 10)


def lr_chart(df: pd.DataFrame, height: int = 170) -> alt.Chart:
    """The learning rate actually used at each step (log-y when it spans more than 10x)."""
    return _lr_chart(df[["step", "lr"]], lr_log_scale(df), height)


@functools.lru_cache(maxsize=8)
def lr_spec(log: bool, height: int = 170) -> str:
    """The LR chart's spec without data (see loss_spec for why), with layers for the run's marks."""
    sample = pd.DataFrame({"step": [1], "lr": [0.1]})
    line = _lr_chart(None, log, height)
    return spec_without_main_data(alt.layer(line, *mark_layers(), data=sample), canvas=True)


def _lr_chart(data: pd.DataFrame | None, log: bool, height: int) -> alt.Chart:
    """The LR line; labels in scientific form because learning rates are small numbers."""
    scale = alt.Scale(type="log" if log else "linear", zero=False)
    chart = alt.Chart() if data is None else alt.Chart(data)
    return chart.mark_line(color="#ff7f0e", interpolate="step-after").encode(
        x=alt.X("step:Q", title="step", scale=alt.Scale(domainMin=0, nice=False)),
        y=alt.Y("lr:Q", title="learning rate", scale=scale,
                axis=alt.Axis(format=".1e", tickCount=3)),
        tooltip=[alt.Tooltip("step:Q"), alt.Tooltip("lr:Q", format=".3g")],
    ).properties(height=height)


PREVIEW_POINTS = 150  # points of the schedule preview


Curve = Sequence[tuple[int, float]]  # a schedule's (step, lr) preview: schedules.lr_curve


def schedule_frame(curve: Curve) -> pd.DataFrame:
    """A schedule's (step, lr) preview as rows (none for a schedule that follows the loss)."""
    return pd.DataFrame(list(curve), columns=["step", "lr"])


def schedule_log_scale(curve: Curve) -> bool:
    """Log-y when the whole schedule spans more than 10x: decided before the run, so the preview and
    the run's LR chart share one axis and it never flips part-way through a run."""
    return lr_log_scale(schedule_frame(curve))


def run_lr_log_scale(curve: Curve | None, df: pd.DataFrame) -> bool:
    """The run's LR chart axis: its schedule's (as the preview), or log once rates changed live (or
    by a plateau) span more than 10x."""
    return (bool(curve) and schedule_log_scale(curve)) or lr_log_scale(df)


def schedule_chart(curve: Curve, height: int = 140) -> alt.Chart:
    """A small preview of the schedule's LR over the run, before it starts: drawn exactly as the
    run's own LR chart will be (same axis: `schedule_log_scale`)."""
    return _lr_chart(schedule_frame(curve), schedule_log_scale(curve), height)


def epoch_starts(df: pd.DataFrame, limit: int = 40) -> list[int]:
    """Steps where a new epoch begins, when epochs span several steps and are few enough to draw."""
    if df.empty or df["epoch"].iloc[-1] == df["step"].iloc[-1]:
        return []  # one step per epoch: every step would be a mark
    firsts = df.loc[df["epoch"].diff().fillna(1) != 0, "step"]
    return [] if len(firsts) > limit else [int(s) - 1 for s in firsts if s > 1]


def error_map(target: np.ndarray, image: np.ndarray) -> np.ndarray:
    """Per-pixel error (mean |difference| over RGBA) as an inferno-coloured RGB picture."""
    err = np.abs(target.astype(np.float32) - image.astype(np.float32)).mean(axis=2) / 255.0
    pos = np.clip(err, 0, 1) * (len(INFERNO) - 1)
    lo = np.floor(pos).astype(int).clip(0, len(INFERNO) - 2)
    frac = (pos - lo)[..., None]
    rgb = INFERNO[lo] * (1 - frac) + INFERNO[lo + 1] * frac
    return rgb.round().astype(np.uint8)


__all__ = ["MIN_POSITIVE", "format_lr", "with_data"]
