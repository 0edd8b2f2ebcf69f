"""Charts for the compare tools: race curves, the LR range test, the stability map (pure functions)."""

from __future__ import annotations

import functools
import math

import altair as alt
import numpy as np
import pandas as pd

from playground.charts.common import MIN_POSITIVE, format_lr, spec_without_main_data, zoomable
from playground.charts.run import blown_marks, clipped, loss_range
from playground.history import Table


def race_frame(names: list[str], curves: list[Table]) -> pd.DataFrame:
    """Every contender's (step, loss) in long format; one floor and ceiling for all, each taken
    from its contender's own curve, so a diverging contender is drawn at the ceiling and marked
    (charts.run.clipped) while the others keep their scale."""
    ranges = [loss_range(np.asarray(rows["loss"], dtype=np.float64)) for rows in curves]
    floor = min((lo for lo, _ in ranges), default=MIN_POSITIVE)
    ceiling = max((hi for _, hi in ranges), default=1.0)
    frames = [pd.DataFrame({"step": rows["step"], **clipped(rows["loss"], floor, ceiling),
                            "contender": name})
              for name, rows in zip(names, curves, strict=True)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["step", "loss", "true_loss", "blown", "contender"])


@functools.lru_cache(maxsize=32)
def race_spec(names: tuple[str, ...], height: int = 300) -> str:
    """Overlaid loss curves, one colour per contender, log-y, hover for values, blow-ups marked."""
    sample = pd.DataFrame({"step": [1], "loss": [1.0], "true_loss": [1.0], "blown": [False],
                           "contender": [names[0]]})
    x = alt.X("step:Q", scale=alt.Scale(domainMin=0, nice=False))
    y = alt.Y("loss:Q", scale=alt.Scale(type="log"))
    tip = ["contender:N", "step:Q", alt.Tooltip("true_loss:Q", format=".4g", title="loss")]
    line = alt.Chart().mark_line().encode(
        x=x, y=y, tooltip=tip,
        color=alt.Color("contender:N", scale=alt.Scale(domain=list(names)),
                        legend=alt.Legend(orient="bottom", columns=2, title=None, labelLimit=300)))
    chart = alt.layer(line, blown_marks(x, y, tip), data=sample).properties(height=height)
    return spec_without_main_data(zoomable(chart))


def lr_find_chart(frame: pd.DataFrame, suggestion: float | None, current: float) -> alt.LayerChart:
    """Loss against learning rate on log-x: raw points, the smoothed curve, the suggestion and
    the user's current LR."""
    data = frame.copy()
    data["loss"] = data["loss"].clip(lower=MIN_POSITIVE)
    data["smoothed"] = data["smoothed"].clip(lower=MIN_POSITIVE)
    x = alt.X("lr:Q", scale=alt.Scale(type="log"), title="learning rate",
              axis=alt.Axis(format=".0e"))
    y_scale = alt.Scale(type="log")
    raw = alt.Chart(data).mark_circle(size=12, opacity=0.3).encode(
        x=x, y=alt.Y("loss:Q", scale=y_scale))
    line = alt.Chart(data).mark_line(strokeWidth=2).encode(
        x=x, y=alt.Y("smoothed:Q", scale=y_scale, title="loss"),
        tooltip=[alt.Tooltip("lr:Q", format=".2e"), alt.Tooltip("smoothed:Q", format=".4g")])
    marks = [(f"your LR {format_lr(current)}", current, "#555555", 12)]
    if suggestion is not None:  # one label per line: close LRs never print over each other
        marks.append((f"suggested {format_lr(suggestion)}", suggestion, "#2ca02c", 30))
    frame_marks = pd.DataFrame(marks, columns=["label", "lr", "color", "y"])
    rules = alt.Chart(frame_marks).mark_rule(strokeWidth=2, strokeDash=[5, 3]).encode(
        x="lr:Q", color=alt.Color("color:N", scale=None))
    text = alt.Chart(frame_marks).mark_text(align="left", dx=4, fontSize=12, fontWeight="bold").encode(
        x="lr:Q", y=alt.Y("y:Q", scale=None), text="label:N", color=alt.Color("color:N", scale=None))
    return alt.layer(raw, line, rules, text).properties(height=280)


REGIME_MARKS = {"crawl": "🐢", "converge": "✅", "oscillate": "〰️", "diverge": "💥"}


def stability_chart(frame: pd.DataFrame, optimizer: str, lr: float) -> alt.LayerChart:
    """Final loss per (optimizer, LR) cell; ✕ marks divergence, a black frame the current config.
    Clicking a cell selects it (the page loads that config)."""
    data = frame.copy()
    data["lr_label"] = [format_lr(v) for v in data["lr"]]
    data["loss"] = [v if math.isfinite(v) and v > 0 else None for v in data["final_loss"]]
    data["mark"] = [REGIME_MARKS.get(r, "…" if s == "not_run" else "") for r, s in
                    zip(data["regime"], data["status"], strict=True)]
    nearest = min(data["lr"], key=lambda v: abs(math.log10(v) - math.log10(lr))) if len(data) else lr
    data["current"] = (data["optimizer"] == optimizer) & (data["lr"] == nearest)
    order = list(dict.fromkeys(data["lr_label"]))
    pick = alt.selection_point(fields=["optimizer", "lr"], name="cell", on="click")
    base = alt.Chart(data).encode(x=alt.X("lr_label:O", sort=order, title="learning rate"),
                                  y=alt.Y("optimizer:N", title=None))
    rect = base.mark_rect().encode(
        color=alt.Color("loss:Q", scale=alt.Scale(type="log", scheme="viridis"),
                        title="final loss", legend=alt.Legend(format=".0e")),
        stroke=alt.condition(alt.datum.current, alt.value("black"), alt.value(None)),
        strokeWidth=alt.condition(alt.datum.current, alt.value(3), alt.value(0)),
        tooltip=["optimizer:N", alt.Tooltip("lr:Q", format=".2e"), "regime:N", "status:N",
                 alt.Tooltip("final_loss:Q", format=".3g"), "diverged_at:Q"],
    ).add_params(pick)
    text = base.mark_text(fontSize=18).encode(text="mark:N")
    return alt.layer(rect, text).properties(height=alt.Step(56))
