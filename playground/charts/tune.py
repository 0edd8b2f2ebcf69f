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


def _log_floor(values: pd.Series, direction: str) -> float | None:
    """Where a log axis starts for losses (none negative) spanning a decade or more, or holding a
    perfect 0: a tenth of the smallest positive one, so a 0 is drawn at the bottom. None for a
    linear axis (accuracies, or values close together)."""
    positive = values[values > 0]
    if direction != "minimize" or positive.empty or (values < 0).any():
        return None
    if values.max() / positive.min() < 10 and not (values == 0).any():
        return None
    return float(positive.min()) / 10


def _y(floor: float | None, title: str, field: str = "value") -> alt.Y:
    """The value axis, log-scaled from `floor` or linear."""
    if floor:
        return alt.Y(f"{field}:Q", title=title, scale=alt.Scale(type="log"),
                     axis=alt.Axis(format=".0e"))
    return alt.Y(f"{field}:Q", title=title)


def _drawn(frame: pd.DataFrame, direction: str) -> tuple[pd.DataFrame, float | None]:
    """The scored trials with values clipped to the log floor (when there is one)."""
    data = _scored(frame)
    floor = _log_floor(data["value"], direction)
    if floor:
        data = data.assign(value=data["value"].clip(lower=floor))
    return data, floor


def _title(text: str) -> alt.TitleParams:
    """A chart title aligned with the axis labels' left edge (never clipped by wide labels)."""
    return alt.TitleParams(text, anchor="start", frame="group")


def best_so_far(frame: pd.DataFrame, direction: str) -> pd.DataFrame:
    """The best completed value after each trial (a step line under the points)."""
    done = _scored(frame[frame["state"] == "complete"]).sort_values("trial")
    best = done["value"].cummin() if direction == "minimize" else done["value"].cummax()
    return pd.DataFrame({"trial": done["trial"], "best": best})


def value_chart(frame: pd.DataFrame, direction: str, title: str = "value",
                height: int = 240) -> alt.LayerChart:
    """Each trial's value (coloured by how it ended) and the best so far."""
    data, floor = _drawn(frame, direction)
    colour = alt.Color("state:N", scale=alt.Scale(domain=STATES, range=STATE_COLOURS),
                       legend=alt.Legend(orient="bottom", title=None))
    trial_axis = alt.X("trial:Q", title="trial", scale=alt.Scale(domainMin=0),
                       axis=alt.Axis(format="d", tickMinStep=1))
    points = alt.Chart(data).mark_circle(size=60).encode(
        x=trial_axis, y=_y(floor, title), color=colour,
        tooltip=["trial:Q", "state:N", alt.Tooltip("value:Q", format=".4g"), "ended:N"])
    line = best_so_far(frame, direction)
    if floor:
        line["best"] = line["best"].clip(lower=floor)
    best = alt.Chart(line).mark_line(interpolate="step-after", color="#1565c0").encode(
        x=trial_axis, y=_y(floor, title, "best"), tooltip=[alt.Tooltip("best:Q", format=".4g")])
    return (best + points).properties(height=height, title=_title("Value by trial (line: best so far)"))


def lr_chart(frame: pd.DataFrame, colour_by: str | None, direction: str, title: str = "value",
             height: int = 240) -> alt.Chart:
    """Value against the learning rate on a log axis, one colour per optimizer (or per state)."""
    data, floor = _drawn(frame, direction)
    by = colour_by if colour_by in data.columns else "state"
    return alt.Chart(data).mark_circle(size=60).encode(
        x=alt.X("lr:Q", title="learning rate", scale=alt.Scale(type="log")), y=_y(floor, title),
        color=alt.Color(f"{by}:N", scale=alt.Scale(scheme="tableau10"),
                        legend=alt.Legend(orient="bottom", title=None)),
        shape=alt.Shape("state:N", scale=alt.Scale(domain=STATES), legend=None),
        tooltip=["trial:Q", f"{by}:N", alt.Tooltip("lr:Q", format=".3g"),
                 alt.Tooltip("value:Q", format=".4g"), "state:N"],
    ).properties(height=height, title=_title("Value against the learning rate"))


def importance_chart(importances: dict[str, float], height: int = 160) -> alt.Chart:
    """Optuna's parameter importances as horizontal bars, largest first."""
    data = pd.DataFrame({"setting": list(importances), "importance": list(importances.values())})
    return alt.Chart(data).mark_bar(color="#6a1b9a").encode(
        x=alt.X("importance:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
        y=alt.Y("setting:N", sort="-x", title=None),
        tooltip=["setting:N", alt.Tooltip("importance:Q", format=".1%")],
    ).properties(height=height, title=_title("Which settings mattered (PED-ANOVA importance)"))
