"""A diverging run is drawn on every loss chart: its blow-up held at a readable ceiling and marked
with a red cross, the same way on the sprite, lesson and race charts (charts.run.clipped)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from playground.charts import compare, lessons
from playground.history import Table
from tests.test_charts_annotations import classify_frame


def marks_blown(spec_json: str) -> bool:
    """Whether a spec has a layer of crosses drawn only at the blown rows."""
    return any(layer.get("mark", {}).get("shape") == "cross"
               and {"filter": "datum.blown"} in layer.get("transform", [])
               for layer in json.loads(spec_json)["layer"])


def test_the_lesson_chart_draws_a_blow_up_at_the_ceiling_and_marks_it() -> None:
    df = classify_frame()
    blow_up = pd.DataFrame({"step": [41, 42, 43], "epoch": [11] * 3, "loss": [5e9, math.inf, math.nan],
                            "epoch_loss": [math.nan] * 3, "val_loss": [math.nan] * 3})
    df = pd.concat([df, blow_up], ignore_index=True)
    frame = lessons.epoch_loss_frame(df, 0.9)
    ceiling = 1e3 * df["loss"].iloc[0]
    batch = frame[frame["series"] == "batch loss"]
    assert len(batch) == 43  # every step, the blow-up included
    assert batch["blown"].tolist() == [False] * 40 + [True] * 3
    assert (batch["loss"].iloc[-3:] == ceiling).all() and batch["true_loss"].iloc[-3] == 5e9
    smoothed = frame[frame["series"] == "batch loss (smoothed)"]["loss"]
    assert np.isfinite(smoothed).all() and smoothed.max() <= ceiling  # the line survives the inf
    assert not frame[frame["series"] != "batch loss"]["blown"].any()
    assert frame["loss"].max() == ceiling
    assert marks_blown(lessons.epoch_loss_spec((), 280, True, True))


def curve(losses: list[float]) -> Table:
    return Table(("step", "loss"), np.array([[i + 1, v] for i, v in enumerate(losses)], dtype=float))


def test_the_race_draws_a_diverging_contender_at_the_ceiling_and_marks_it() -> None:
    calm, wild = [0.3, 0.1, 0.03, 0.01], [1.0, 10.0, 1e8, math.nan]
    frame = compare.race_frame(["calm", "wild"], [curve(calm), curve(wild)])
    ceiling = 1e3 * 1.0  # the highest contender's own first loss sets it
    by = {name: part for name, part in frame.groupby("contender")}
    assert by["calm"]["loss"].tolist() == calm and not by["calm"]["blown"].any()
    assert by["wild"]["blown"].tolist() == [False, False, True, True]
    assert (by["wild"]["loss"].iloc[-2:] == ceiling).all()
    assert by["wild"]["true_loss"].iloc[2] == 1e8 and math.isnan(by["wild"]["true_loss"].iloc[3])
    assert marks_blown(compare.race_spec(("calm", "wild")))
