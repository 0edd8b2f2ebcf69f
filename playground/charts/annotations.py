"""The marks every chart over steps carries, drawn alike: learning-rate changes, plateau cuts, early
stopping, divergence and the best checkpoint. `marks` lists them, `mark_layers` draws them as
labelled vertical rules.

On the page the marks are data, not spec: a cached spec's mark layers read a named dataset that
`with_marks` fills at each draw. The best checkpoint moves with almost every step of a falling
loss, and rebuilding a spec with Altair costs 35-110 ms of the server's GIL; filling a dataset
costs well under one."""

from __future__ import annotations

import math

import altair as alt
import numpy as np
import pandas as pd

from playground.charts.common import event_label
from playground.rules import checkpoint_step

COLORS = {"lr": "#d62728", "plateau": "#9467bd", "early_stop": "#2ca02c", "diverged": "#d62728",
          "best": "#2ca02c"}
Mark = tuple[float, str, str, bool]  # (where on the x axis, label, colour, labelled on the left)
ENDS = ("diverged", "early_stop")  # the events that end a run (at the chart's right edge)
RIGHT = 0.8  # marks past this share of the run are labelled on their left, inside the chart
MARKS = "marks"  # the dataset a cached spec's mark layers read (see `with_marks`)


def marks(events: list[tuple[int, str, float]] | tuple = (), best: int | None = None,
          last: float | None = None) -> tuple[Mark, ...]:
    """A run's events and its best checkpoint as chart marks (`last`: the newest step, so marks
    near it are labelled on their left and stay inside the chart)."""
    def left(step: float, kind: str) -> bool:
        return kind in ENDS or (last is not None and step > RIGHT * last)
    out = [(float(step), ("💥 " if kind == "diverged" else "") + event_label(kind, value),
            COLORS.get(kind, "#555555"), left(step, kind)) for step, kind, value in events]
    if best is not None:
        out.append((float(best), "★ best", COLORS["best"], left(best, "best")))
    return tuple(out)


def best_step(df: pd.DataFrame, monitor: str = "loss") -> int | None:
    """The step whose weights are the best checkpoint: for a validated run the epoch end with the
    best validation loss (or accuracy, with monitor=accuracy), else the lowest training loss of
    the checkpoint steps (rules.checkpoint_step; a step's loss is measured on the weights before
    its update, which are the weights kept)."""
    if df.empty:
        return None
    if "val_loss" in df.columns:
        ends = df.dropna(subset=["val_loss"])
        if ends.empty:
            return None
        col, pick = (("val_accuracy", "idxmax") if monitor == "accuracy" else ("val_loss", "idxmin"))
        return int(ends.loc[getattr(ends[col], pick)(), "step"])
    steps = df["step"].to_numpy()
    kept = np.isfinite(df["loss"].to_numpy()) & checkpoint_step(steps)
    loss = df["loss"].where(kept)
    return None if loss.isna().all() else int(df.loc[loss.idxmin(), "step"])


def on_epochs(found: tuple[Mark, ...], df: pd.DataFrame) -> tuple[Mark, ...]:
    """The same marks on an epoch axis (each at the epoch its step belongs to)."""
    if df.empty:
        return ()
    steps, epochs = df["step"].to_numpy(), df["epoch"].to_numpy()
    at = np.searchsorted(steps, [m[0] for m in found]).clip(0, len(steps) - 1)
    return tuple((float(epochs[i]), label, color, end)
                 for i, (_, label, color, end) in zip(at, found, strict=True))


def mark_frame(found: tuple[Mark, ...], x: str = "step") -> pd.DataFrame:
    """The marks as rows: where, label, a staggered label height, colour, and whether it ends the
    run (those sit at the right edge: their labels go on the left of the rule)."""
    return pd.DataFrame([(where, label, 10 + 13 * (i % 3), color, end)
                         for i, (where, label, color, end) in enumerate(found)
                         if math.isfinite(where)], columns=[x, "label", "y", "color", "end"])


def mark_layers(found: tuple[Mark, ...] | None = None, x: str = "step") -> list[alt.Chart]:
    """A dashed rule and a label at every mark: of `found`, or (None) of the named dataset that
    `with_marks` fills at each draw."""
    data = alt.NamedData(name=MARKS) if found is None else mark_frame(found, x)
    if found is not None and not found:
        return []
    color = alt.Color("color:N", scale=None)
    layers = [alt.Chart(data).mark_rule(strokeDash=[4, 3]).encode(x=f"{x}:Q", color=color)]
    for test, align, dx in (("!datum.end", "left", 3), ("datum.end", "right", -3)):
        layers.append(alt.Chart(data).mark_text(align=align, dx=dx, fontSize=11).encode(
            x=f"{x}:Q", y=alt.Y("y:Q", scale=None), text="label:N", color=color,
        ).transform_filter(test))
    return layers


def with_marks(spec: dict, found: tuple[Mark, ...], x: str = "step",
               data: pd.DataFrame | bytes | None = None) -> dict:
    """Fill a spec's mark layers (built with `mark_layers()`) with these marks (`data`: their
    `mark_frame`, already built or encoded). The dataset gets a name of its own per set of marks,
    as `with_data` names the main data: Streamlit's front end would otherwise take a changed set
    for rows appended to the old one."""
    return with_named(spec, MARKS, f"{MARKS}-{x}-{len(found)}-{abs(hash(found)):x}",
                      mark_frame(found, x) if data is None else data)


def _renamed(layer: dict, name: str, old: str) -> dict:
    """A layer (and the layers inside it) reading `name` where it read the dataset `old`."""
    if layer.get("data") == {"name": old}:
        layer = {**layer, "data": {"name": name}}
    if "layer" in layer:
        layer = {**layer, "layer": [_renamed(inner, name, old) for inner in layer["layer"]]}
    return layer


def with_named(spec: dict, old: str, name: str, data: object) -> dict:
    """Fill the layers that read the named dataset `old` with `data`, under a name of its own per
    content (`name`): see `with_marks`."""
    spec["layer"] = [_renamed(layer, name, old) for layer in spec.get("layer", [])]
    spec.setdefault("datasets", {})[name] = data
    return spec
