"""Charts of a Tune study (pure functions of its trials frame): value by trial with the best so far,
value against the learning rate coloured by optimizer, and the parameter importances."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

STATES = ["complete", "pruned", "stopped", "fail"]
STATE_COLOURS = ["#2e7d32", "#f9a825", "#9e9e9e", "#c62828"]


def _scored(frame: pd.DataFrame) -> pd.DataFrame:
    """Trials with a finite value (pruned ones carry the value they were stopped at)."""
    values = pd.to_numeric(frame["value"], errors="coerce")
    return frame[np.isfinite(values)].assign(value=values[np.isfinite(values)])


def _y(data: pd.DataFrame, title: str) -> alt.Y:
    """The value axis: log-scaled when every value is positive and they span a decade or more."""
    values = data["value"]
    log = len(values) > 1 and values.min() > 0 and values.max() / values.min() >= 10
    return alt.Y("value:Q", title=title, scale=alt.Scale(type="log" if log else "linear"))


def best_so_far(frame: pd.DataFrame, direction: str) -> pd.DataFrame:
    """The best completed value after each trial (a step line under the points)."""
    done = _scored(frame[frame["state"] == "complete"]).sort_values("trial")
    best = done["value"].cummin() if direction == "minimize" else done["value"].cummax()
    return pd.DataFrame({"trial": done["trial"], "best": best})


def value_chart(frame: pd.DataFrame, direction: str, title: str = "value",
                height: int = 240) -> alt.LayerChart:
    """Each trial's value (coloured by how it ended) and the best so far."""
    data = _scored(frame)
    colour = alt.Color("state:N", scale=alt.Scale(domain=STATES, range=STATE_COLOURS),
                       legend=alt.Legend(orient="bottom", title=None))
    points = alt.Chart(data).mark_circle(size=60).encode(
        x=alt.X("trial:Q", title="trial", scale=alt.Scale(domainMin=0)), y=_y(data, title),
        color=colour, tooltip=["trial:Q", "state:N", alt.Tooltip("value:Q", format=".4g"), "ended:N"])
    best = alt.Chart(best_so_far(frame, direction)).mark_line(interpolate="step-after",
                                                               color="#1565c0").encode(
        x="trial:Q", y=alt.Y("best:Q"), tooltip=[alt.Tooltip("best:Q", format=".4g")])
    return (best + points).properties(height=height, title="Value by trial (line: best so far)")


def lr_chart(frame: pd.DataFrame, colour_by: str | None, title: str = "value",
             height: int = 240) -> alt.Chart:
    """Value against the learning rate on a log axis, one colour per optimizer (or per state)."""
    data = _scored(frame)
    by = colour_by if colour_by in data.columns else "state"
    return alt.Chart(data).mark_circle(size=60).encode(
        x=alt.X("lr:Q", title="learning rate", scale=alt.Scale(type="log")), y=_y(data, title),
        color=alt.Color(f"{by}:N", legend=alt.Legend(orient="bottom", title=None)),
        shape=alt.Shape("state:N", scale=alt.Scale(domain=STATES), legend=None),
        tooltip=["trial:Q", f"{by}:N", alt.Tooltip("lr:Q", format=".3g"),
                 alt.Tooltip("value:Q", format=".4g"), "state:N"],
    ).properties(height=height, title="Value against the learning rate")


def importance_chart(importances: dict[str, float], height: int = 160) -> alt.Chart:
    """Optuna's parameter importances as horizontal bars, largest first."""
    data = pd.DataFrame({"setting": list(importances), "importance": list(importances.values())})
    return alt.Chart(data).mark_bar(color="#6a1b9a").encode(
        x=alt.X("importance:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
        y=alt.Y("setting:N", sort="-x", title=None),
        tooltip=["setting:N", alt.Tooltip("importance:Q", format=".1%")],
    ).properties(height=height, title="Which settings mattered (PED-ANOVA importance)")
