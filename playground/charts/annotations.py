"""The marks every chart over steps carries, drawn alike: learning-rate changes, plateau cuts, early
stopping, divergence and the best checkpoint. `marks` makes them hashable (specs are cached per
look), `mark_layers` draws them as labelled vertical rules."""

from __future__ import annotations

import math

import altair as alt
import numpy as np
import pandas as pd

from playground.charts.common import event_label

COLORS = {"lr": "#d62728", "plateau": "#9467bd", "early_stop": "#2ca02c", "diverged": "#d62728",
          "best": "#2ca02c"}
Mark = tuple[float, str, str]  # (where on the x axis, label, colour)
ENDS = ("diverged", "early stop")  # labels of the marks that end a run


def marks(events: list[tuple[int, str, float]] | tuple = (), best: int | None = None) -> tuple[Mark, ...]:
    """A run's events and its best checkpoint as chart marks."""
    out = [(float(step), ("💥 " if kind == "diverged" else "") + event_label(kind, value),
            COLORS.get(kind, "#555555")) for step, kind, value in events]
    if best is not None:
        out.append((float(best), "★ best", COLORS["best"]))
    return tuple(out)


def best_step(df: pd.DataFrame, monitor: str = "loss") -> int | None:
    """The step whose weights are the best checkpoint: for a validated run the epoch end with the
    best validation loss (or accuracy, with monitor=accuracy), else the lowest training loss (a
    step's loss is measured on the weights before its update, which are the weights kept)."""
    if df.empty:
        return None
    if "val_loss" in df.columns:
        ends = df.dropna(subset=["val_loss"])
        if ends.empty:
            return None
        col, pick = (("val_accuracy", "idxmax") if monitor == "accuracy" else ("val_loss", "idxmin"))
        return int(ends.loc[getattr(ends[col], pick)(), "step"])
    loss = df["loss"].where(np.isfinite(df["loss"]))
    return None if loss.isna().all() else int(df.loc[loss.idxmin(), "step"])


def on_epochs(found: tuple[Mark, ...], df: pd.DataFrame) -> tuple[Mark, ...]:
    """The same marks on an epoch axis (each at the epoch its step belongs to)."""
    if df.empty:
        return ()
    steps, epochs = df["step"].to_numpy(), df["epoch"].to_numpy()
    at = np.searchsorted(steps, [m[0] for m in found]).clip(0, len(steps) - 1)
    return tuple((float(epochs[i]), label, color) for i, (_, label, color) in zip(at, found, strict=True))


def mark_layers(found: tuple[Mark, ...], x: str = "step") -> list[alt.Chart]:
    """A dashed rule and a label at every mark (labels staggered so they don't overlap; the marks
    that end a run, usually at the chart's right edge, are labelled on their left)."""
    if not found:
        return []
    frame = pd.DataFrame([(where, label, 10 + 13 * (i % 3), color, label.endswith(ENDS))
                          for i, (where, label, color) in enumerate(found)
                          if math.isfinite(where)], columns=[x, "label", "y", "color", "end"])
    color = alt.Color("color:N", scale=None)
    rule = alt.Chart(frame).mark_rule(strokeDash=[4, 3]).encode(x=f"{x}:Q", color=color)
    layers = [rule]
    for end, align, dx in ((False, "left", 3), (True, "right", -3)):
        part = frame[frame["end"] == end]
        if len(part):
            layers.append(alt.Chart(part).mark_text(align=align, dx=dx, fontSize=11).encode(
                x=f"{x}:Q", y=alt.Y("y:Q", scale=None), text="label:N", color=color))
    return layers
