"""Charts for the classify and line lessons: long-format frames plus cached Altair specs (see
charts.loss_spec for why the spec is cached and the data sent fresh)."""

from __future__ import annotations

import functools

import altair as alt
import numpy as np
import pandas as pd

from playground.charts.annotations import mark_layers
from playground.charts.common import spec_without_main_data, zoomable
from playground.charts.run import blown_marks, clipped, loss_range, smooth

SERIES = ["batch loss", "batch loss (smoothed)", "train (epoch mean)", "validation"]
COLORS = ["#9ecae1", "#6baed6", "#1f77b4", "#ff7f0e"]


def epoch_loss_frame(df: pd.DataFrame, smoothing: float = 0.0, log_y: bool = True) -> pd.DataFrame:
    """Per-batch losses as points (and, with smoothing, their moving average as a line), per-epoch
    train and validation losses as lines (long format); a blow-up is drawn at the chart's ceiling
    and marked, as on the sprite lesson's chart (charts.run.clipped)."""
    ends = df.dropna(subset=["val_loss"])
    parts = [(SERIES[0], df, df["loss"]), (SERIES[2], ends, ends["epoch_loss"]),
             (SERIES[3], ends, ends["val_loss"])]
    floor, ceiling = loss_range(np.concatenate([v.to_numpy(np.float64) for _, _, v in parts]))
    frames = []
    for series, rows, values in parts:
        frames.append(pd.DataFrame({"step": rows["step"].to_numpy(), "epoch": rows["epoch"].to_numpy(),
                                    **clipped(values, floor, ceiling), "series": series}))
        if series == SERIES[0] and smoothing > 0:
            line = np.clip(smooth(frames[0]["loss"], smoothing, log_y), floor, ceiling)
            frames.append(frames[0].assign(loss=line, true_loss=line, blown=False, series=SERIES[1]))
    return pd.concat(frames, ignore_index=True)


def accuracy_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Train and validation accuracy per epoch (long format)."""
    ends = df.dropna(subset=["val_accuracy"])
    return pd.concat([
        pd.DataFrame({"epoch": ends["epoch"], "accuracy": ends["train_accuracy"], "series": "train"}),
        pd.DataFrame({"epoch": ends["epoch"], "accuracy": ends["val_accuracy"],
                      "series": "validation"})], ignore_index=True)


@functools.lru_cache(maxsize=64)
def epoch_loss_spec(epoch_rules: tuple = (), height: int = 280, log_y: bool = True,
                    smoothed: bool = False) -> str:
    """Faint batch points (`smoothed`: and their moving average), bold epoch lines, epoch
    boundaries and the run's marks (annotations)."""
    sample = pd.DataFrame({"step": [1], "epoch": [1], "loss": [1.0], "true_loss": [1.0],
                           "blown": [False], "series": ["batch loss"]})
    shown = [i for i in range(len(SERIES)) if smoothed or SERIES[i] != SERIES[1]]
    color = alt.Color("series:N", scale=alt.Scale(domain=[SERIES[i] for i in shown],
                                                  range=[COLORS[i] for i in shown]),
                      legend=alt.Legend(orient="top", title=None, columns=2))  # 4 in a row: cut
    x = alt.X("step:Q", scale=alt.Scale(domainMin=0, nice=False))
    y = alt.Y("loss:Q", scale=alt.Scale(type="log" if log_y else "linear", zero=False), title="loss")
    tip = [alt.Tooltip("series:N"), alt.Tooltip("epoch:Q"),
           alt.Tooltip("true_loss:Q", format=".4g", title="loss")]
    points = alt.Chart().mark_circle(size=10, opacity=0.35).encode(x=x, y=y, color=color,
                                                                   tooltip=tip).transform_filter(
        alt.datum.series == "batch loss")
    smoothed = alt.Chart().mark_line(strokeWidth=1.5).encode(x=x, y=y, color=color).transform_filter(
        alt.datum.series == SERIES[1])
    lines = alt.Chart().mark_line(point=True, strokeWidth=2).encode(
        x=x, y=y, color=color, tooltip=tip).transform_filter(
        alt.FieldOneOfPredicate(field="series", oneOf=SERIES[2:]))
    layers = [points, smoothed, lines, blown_marks(x, y, tip)]
    if epoch_rules:
        layers.append(alt.Chart(pd.DataFrame({"step": list(epoch_rules)})).mark_rule(
            color="#cccccc", strokeDash=[2, 4]).encode(x="step:Q"))
    layers += mark_layers()  # filled per draw: annotations.with_marks
    chart = zoomable(alt.layer(*layers, data=sample).properties(height=height))
    return spec_without_main_data(chart)


@functools.lru_cache(maxsize=4)
def accuracy_spec(height: int = 200) -> str:
    """Accuracy per epoch, train vs validation: the gap between them is overfitting. The run's
    marks sit at their epochs (annotations.on_epochs)."""
    sample = pd.DataFrame({"epoch": [1], "accuracy": [0.5], "series": ["train"]})
    chart = alt.Chart().mark_line(point=True).encode(
        x=alt.X("epoch:Q", axis=alt.Axis(tickMinStep=1)),
        y=alt.Y("accuracy:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
        color=alt.Color("series:N", scale=alt.Scale(domain=["train", "validation"],
                                                    range=["#1f77b4", "#ff7f0e"]),
                        legend=alt.Legend(orient="top", title=None)),
        tooltip=["series:N", "epoch:Q", alt.Tooltip("accuracy:Q", format=".1%")],
    )
    layered = alt.layer(chart, *mark_layers(x="epoch"), data=sample)
    return spec_without_main_data(layered.properties(height=height))


def confusion_frame(matrix: np.ndarray, classes: list[str]) -> pd.DataFrame:
    """A confusion matrix in long format (truth, predicted, count)."""
    return pd.DataFrame([(classes[i], classes[j], int(matrix[i, j]))
                         for i in range(len(classes)) for j in range(len(classes))],
                        columns=["truth", "predicted", "count"])


@functools.lru_cache(maxsize=8)
def confusion_spec(classes: tuple[str, ...], height: int = 240) -> str:
    """Rows are the truth, columns the prediction: everything off the diagonal is a mistake."""
    sample = confusion_frame(np.eye(len(classes), dtype=int), list(classes))
    order = list(classes)
    base = alt.Chart().encode(x=alt.X("predicted:N", sort=order),
                              y=alt.Y("truth:N", sort=order))
    rect = base.mark_rect().encode(color=alt.Color("count:Q", scale=alt.Scale(scheme="blues"),
                                                   legend=None),
                                   tooltip=["truth:N", "predicted:N", "count:Q"])
    text = base.mark_text(fontSize=13).encode(
        text="count:Q",
        color=alt.condition(alt.datum.count > 0, alt.value("black"), alt.value("#bbbbbb")))
    return spec_without_main_data(alt.layer(rect, text, data=sample).properties(height=height))


def line_frame(view: dict) -> pd.DataFrame:
    """House points, the model's current line and the least-squares line (long format)."""
    pts = view["points"]
    xs = np.array([pts[:, 0].min(), pts[:, 0].max()]) if len(pts) else np.array([0.0, 1.0])
    frames = [pd.DataFrame({"size": pts[:, 0], "price": pts[:, 1], "series": "houses"})]
    lo, hi = (pts[:, 1].min(), pts[:, 1].max()) if len(pts) else (0.0, 1.0)
    span = max(hi - lo, 1.0)
    model = np.clip(view["slope"] * xs + view["intercept"], lo - 2 * span, hi + 2 * span)
    frames.append(pd.DataFrame({"size": xs, "price": model, "series": "model"}))
    if view.get("closed_form"):
        slope, intercept = view["closed_form"]
        frames.append(pd.DataFrame({"size": xs, "price": slope * xs + intercept,
                                    "series": "least squares"}))
    return pd.concat(frames, ignore_index=True)


@functools.lru_cache(maxsize=4)
def line_spec(height: int = 300) -> str:
    """Points, the line being learned, and the exact answer it should reach (dashed)."""
    sample = pd.DataFrame({"size": [1.0], "price": [1.0], "series": ["houses"]})
    color = alt.Color("series:N", scale=alt.Scale(domain=["houses", "model", "least squares"],
                                                  range=["#555555", "#d62728", "#2ca02c"]),
                      legend=alt.Legend(orient="top", title=None))
    x = alt.X("size:Q", title="size (m²)", scale=alt.Scale(zero=False))
    y = alt.Y("price:Q", title="price (k)", scale=alt.Scale(zero=False))
    points = alt.Chart().mark_circle(size=40).encode(x=x, y=y, color=color,
                                                     tooltip=["size:Q", "price:Q"]
                                                     ).transform_filter(alt.datum.series == "houses")
    model = alt.Chart().mark_line(strokeWidth=3).encode(x=x, y=y, color=color).transform_filter(
        alt.datum.series == "model")
    exact = alt.Chart().mark_line(strokeDash=[6, 4]).encode(x=x, y=y, color=color
                                                            ).transform_filter(
        alt.datum.series == "least squares")
    return spec_without_main_data(alt.layer(points, exact, model, data=sample)
                                   .properties(height=height))
