"""Every chart over steps carries the same marks (LR change, plateau cut, early stop, divergence,
best checkpoint); the classify chart follows log-y and smoothing; the diagnostics frames."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from playground.charts import diagnostics, lessons, run
from playground.charts.annotations import best_step, marks, on_epochs, with_marks
from playground.history import Table

EVENTS = ((10, "lr", 0.05), (20, "plateau", 0.005), (30, "early_stop", 0.4), (35, "diverged", 0.005))
LABELS = ["lr → 0.05", "LR cut", "early stop", "💥 diverged", "★ best"]


def labels_in(spec: dict) -> list[str]:
    """Every mark label the datasets a spec's layers read carry."""
    read = {layer["data"]["name"] for layer in spec["layer"] if "name" in layer.get("data", {})}
    assert read, "no layer reads a named dataset"
    return [row["label"] for name in read for row in pd.DataFrame(spec["datasets"][name]).to_dict(
        "records") if "label" in row]


def classify_frame(n: int = 40) -> pd.DataFrame:
    step = np.arange(1, n + 1)
    epoch = (step - 1) // 4 + 1
    end = step % 4 == 0
    loss = 1.0 / step + 0.05 * np.sin(step)
    val = np.where(end, 1.2 / step, np.nan)
    return pd.DataFrame({"step": step, "epoch": epoch, "loss": loss,
                         "epoch_loss": np.where(end, loss, np.nan), "val_loss": val,
                         "train_accuracy": np.where(end, 0.5, np.nan),
                         "val_accuracy": np.where(end, step / (n + 1), np.nan)})


@pytest.mark.parametrize("spec,x", [
    (lambda: run.loss_spec(True), "step"),
    (lambda: run.lr_spec(True), "step"),
    (lambda: lessons.epoch_loss_spec((4, 8)), "step"),
    (lambda: lessons.accuracy_spec(), "epoch"),
    (lambda: diagnostics.diagnostics_spec("grad", True), "step"),
    (lambda: diagnostics.diagnostics_spec("ratio", False, ("whole model", "net.0")), "step"),
], ids=["loss", "lr", "classify-loss", "accuracy", "grad", "ratio"])
def test_every_chart_over_steps_carries_every_kind_of_mark(spec, x: str) -> None:
    found = marks(EVENTS, 25)
    filled = with_marks(json.loads(spec()), found, x)
    assert set(labels_in(filled)) == set(LABELS)
    rules = [layer for layer in filled["layer"] if layer.get("mark", {}).get("type") == "rule"
             and layer["data"].get("name", "").startswith("marks")]
    assert rules and rules[0]["encoding"]["x"]["field"] == x
    other = with_marks(json.loads(spec()), marks(EVENTS, 26), x)  # the best moved: a new dataset
    assert set(other["datasets"]) != set(filled["datasets"])
    assert set(labels_in(with_marks(json.loads(spec()), (), x))) == set()


def test_the_static_loss_chart_draws_the_marks_inline() -> None:
    df = pd.DataFrame({"step": [1, 2, 3], "epoch": [1, 2, 3], "loss": [1.0, 0.5, 0.7],
                       "lr": [0.1, 0.1, 0.1]})
    chart = run.loss_chart(df, events=[(2, "lr", 0.05)], best=2).to_dict()
    assert "★ best" in json.dumps(chart, ensure_ascii=False)


def test_marks_on_the_epoch_axis_sit_at_their_steps_epochs() -> None:
    found = on_epochs(marks(EVENTS, 25), classify_frame())
    assert [m[0] for m in found] == [3, 5, 8, 9, 7]


def test_the_best_step_follows_what_the_run_monitors() -> None:
    df = classify_frame()
    assert best_step(df, "loss") == 40  # the lowest validation loss: the last epoch
    assert best_step(df, "accuracy") == 40
    df.loc[df["step"] == 20, "val_accuracy"] = 0.99
    assert best_step(df, "accuracy") == 20
    steps = np.arange(1, 32)  # without validation: the lowest loss of the checkpoint steps (the
    loss = np.linspace(3.0, 0.1, 31)  # first and every 10th), not of every step
    plain = pd.DataFrame({"step": steps, "epoch": steps, "loss": loss})
    assert best_step(plain) == 30  # step 31 is lower, but its weights were not kept
    plain.loc[plain["step"] == 30, "loss"] = np.inf  # a non-finite loss is never the best
    assert best_step(plain) == 20 and best_step(plain.iloc[:0]) is None


def y_scales(spec_json: str) -> set[str]:
    spec = json.loads(spec_json)
    return {layer["encoding"]["y"]["scale"]["type"] for layer in spec["layer"]
            if layer.get("encoding", {}).get("y", {}).get("field") == "loss"}


def test_the_classify_chart_follows_log_y_and_smoothing() -> None:
    assert y_scales(lessons.epoch_loss_spec((), 280, True)) == {"log"}
    assert y_scales(lessons.epoch_loss_spec((), 280, False)) == {"linear"}
    df = classify_frame()
    raw, smoothed = lessons.epoch_loss_frame(df, 0.0), lessons.epoch_loss_frame(df, 0.9)
    assert "batch loss (smoothed)" not in set(raw["series"])
    line = smoothed[smoothed["series"] == "batch loss (smoothed)"]["loss"].to_numpy()
    assert len(line) == len(df) and np.abs(np.diff(line)).sum() < np.abs(np.diff(df["loss"])).sum()


def test_diagnostics_frames_group_parameters_by_layer() -> None:
    columns = ("step", "grad:net.0.weight", "grad:net.0.bias", "grad:net.2.weight",
               "update:net.0.weight", "update:net.0.bias", "update:net.2.weight",
               "weight:net.0.weight", "weight:net.0.bias", "weight:net.2.weight")
    layers = Table(columns, np.array([[10, 3, 4, 1, 0.3, 0.4, 0.01, 300, 400, 10]], dtype=float))
    rows = Table(("step", "grad_norm", "update_ratio"),
                 np.array([[9, 2.0, np.nan], [10, 5.0, 0.001], [11, np.inf, np.nan]]))
    grad = diagnostics.diagnostics_frame("grad", rows, layers)
    assert grad.set_index("series").loc["net.0", "value"] == pytest.approx(5.0)  # sqrt(3² + 4²)
    assert list(grad[grad["series"] == "whole model"]["step"]) == [9, 10]  # inf is not drawn
    ratio = diagnostics.diagnostics_frame("ratio", rows, layers).set_index("series")["value"]
    assert ratio["net.0"] == pytest.approx(0.5 / 500) and ratio["net.2"] == pytest.approx(0.001)
    assert diagnostics.groups(["fc.weight", "fc.bias"]) == {"fc.weight": ["fc.weight"],
                                                            "fc.bias": ["fc.bias"]}
    assert diagnostics.groups(["canvas"]) == {}
    assert list(diagnostics.window(grad, 10, 1)["step"]) == [10, 10, 10]
