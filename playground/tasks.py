"""Task registry: what is being learned. Each task names its models, its losses and the defaults
that make a good first run, so `--set task=classify` alone gives a sensible config."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from playground import losses, models
from playground.lessons import classify, linefit


@dataclass(frozen=True)
class TaskSpec:
    """One lesson: its model and loss registries, defaults and a line that says what it teaches."""

    models: dict[str, Any]
    losses: dict[str, Any]
    defaults: dict[str, Any] = field(default_factory=dict)
    doc: str = ""


TASKS: dict[str, TaskSpec] = {
    "generate": TaskSpec(models.MODELS, losses.LOSSES, {},
                         "Reproduce a pixel-art sprite: every optimizer step you can see."),
    "classify": TaskSpec(classify.CLASSIFIERS, classify.CLASS_LOSSES,
                         {"model": "cnn", "loss": "ce", "lr": 0.01, "epochs": 20, "batch_size": 32,
                          "hidden": 64, "depth": 2, "size": 12, "patience": 5, "min_delta": 0.001},
                         "Classify shape sprites: epochs and batches, train vs validation."),
    "line": TaskSpec(linefit.LINE_MODELS, {"mse": None, "l1": None, "huber": None},
                     {"model": "linear", "loss": "mse", "optimizer": "sgd", "lr": 1e-5,
                      "epochs": 100, "batch_size": 40, "samples": 40},
                     "Fit a line to house prices: the smallest training loop there is."),
}


def model_names() -> dict[str, None]:
    """Every model key of every task (each task checks its own)."""
    return {name: None for spec in TASKS.values() for name in spec.models}


def loss_names() -> dict[str, None]:
    """Every loss key of every task."""
    return {name: None for spec in TASKS.values() for name in spec.losses}
