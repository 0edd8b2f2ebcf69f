"""Guided experiments: one click loads a setup that shows one lesson about learning rates and
optimizers, with one sentence of what to watch for. Each entry also says how to check that its
phenomenon really happens (tests/test_experiments.py runs every `expect` on the real run), and most
name a `baseline` to run next to it so the difference is seen, not described.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from playground.compare.regimes import epoch_losses, run_regime
from playground.config import RunConfig
from playground.lessons.classify import PRESETS
from playground.results import TrainResult

Check = Callable[[TrainResult, TrainResult | None], bool]


@dataclass(frozen=True)
class Experiment:
    """One guided experiment: its settings, what to watch, and how a test knows it happened."""

    title: str
    watch: str  # one sentence: what the learner should see
    settings: dict[str, Any]
    expect: Check
    baseline: dict[str, Any] = field(default_factory=dict)  # the run to compare with, if any

    def config(self) -> RunConfig:
        """The experiment's config: its task's defaults plus its own settings."""
        return RunConfig.from_dict(self.settings)

    def baseline_config(self) -> RunConfig | None:
        """The comparison run's config, or None."""
        return RunConfig.from_dict({**self.settings, **self.baseline}) if self.baseline else None


def _loss(r: TrainResult) -> np.ndarray:
    return r.history["loss"].to_numpy(dtype=np.float64)


def _val(r: TrainResult) -> np.ndarray:
    return r.history["val_loss"].dropna().to_numpy(dtype=np.float64)


def _jitter(r: TrainResult) -> float:
    """How much the loss jumps from step to step (std of its log-ratio)."""
    return float(np.std(np.diff(np.log(_loss(r)))))


def _rises(r: TrainResult) -> float:
    """The share of epochs whose mean loss went up."""
    return float(np.mean(np.diff(epoch_losses(r.history)) > 0))


EXPERIMENTS: dict[str, Experiment] = {
    "too_small": Experiment(
        "Too small", "Each step fixes only 0.2% of every pixel's error, so the loss slides down a "
        "gentle slope and the heart fades in slowly (try 0.1 next).",
        {"model": "pixels", "optimizer": "sgd", "lr": 0.001, "epochs": 400},
        lambda r, _: run_regime(r.history, r.status) == "crawl"),
    "just_right": Experiment(
        "Just right", "For this loss 0.5 is exactly one over the curvature: every pixel lands on "
        "its target in a single step, and the loss drops to zero at once.",
        {"model": "pixels", "optimizer": "sgd", "lr": 0.5, "epochs": 30},
        lambda r, _: _loss(r)[1] <= 1e-9 * _loss(r)[0]),
    "flickering": Experiment(
        "Flickering", "At lr 1.0 every step overshoots by exactly the error: each pixel jumps "
        "between two values forever, the picture flickers and the loss never moves.",
        {"model": "pixels", "optimizer": "sgd", "lr": 1.0, "epochs": 60, "pace": 10},
        lambda r, _: r.status == "completed" and np.allclose(_loss(r), _loss(r)[0], rtol=1e-4)),
    "oscillating": Experiment(
        "Oscillating", "Too large a rate for a network: the loss saws up and down for the whole run "
        "and never settles, while 0.1 converges.",
        {"model": "coord", "optimizer": "sgd", "lr": 1.0},
        lambda r, b: (r.status == "completed" and _rises(r) >= 0.3
                      and _loss(r).min() > 20 * _loss(b).min()),
        {"lr": 0.1}),
    "diverging": Experiment(
        "Diverging", "Each step doubles every pixel's error and flips its sign: the loss grows "
        "fourfold per step until the run stops with 💥.",
        {"model": "pixels", "optimizer": "sgd", "lr": 1.5, "epochs": 100, "pace": 5},
        lambda r, _: (r.status == "diverged" and np.allclose(_loss(r)[1:4] / _loss(r)[:3], 4,
                                                              rtol=1e-3))),
    "momentum": Experiment(
        "Momentum speeds it up", "A network's loss is a narrow valley: lr 0.01 is safe on its steep "
        "walls but crawls along its floor, and momentum 0.9 adds up the steps along the floor, so "
        "the sprite forms about 10x sooner.",
        {"model": "coord", "optimizer": "sgd", "lr": 0.01, "momentum": 0.9},
        lambda r, b: _loss(r)[-1] < 0.1 * _loss(b)[-1], {"momentum": 0.0}),
    "adam_vs_sgd": Experiment(
        "Adam vs SGD", "Adam scales each weight's step by its own gradient history: at lr 1e-3 it "
        "forms the sprite while plain SGD has barely started.",
        {"model": "coord", "optimizer": "adam", "lr": 0.001},
        lambda r, b: _loss(r)[-1] < 0.05 * _loss(b)[-1], {"optimizer": "sgd"}),
    "schedule_rescue": Experiment(
        "A schedule rescues a too-large LR", "lr 1.0 makes every pixel flicker; after 20 steps the "
        "step schedule halves it to 0.5 and every pixel lands at once.",
        {"model": "pixels", "optimizer": "sgd", "lr": 1.0, "schedule": "step", "step_size": 20,
         "gamma": 0.5, "epochs": 60, "pace": 10},
        lambda r, b: _loss(r)[-1] < 1e-6 * _loss(b)[-1], {"schedule": "constant"}),
    "warmup": Experiment(
        "Warm-up prevents an early blow-up", "Adam at lr 0.5 blows up the MLP on its first step; "
        "warming up from 1% of the rate over 100 steps lets the same rate train.",
        {"model": "mlp", "optimizer": "adam", "lr": 0.5, "schedule": "warmup_cosine", "warmup": 100},
        lambda r, b: r.status == "completed" and b.status == "diverged" and b.steps <= 3,
        {"schedule": "constant"}),
    "batch_noise": Experiment(
        "Small batches are noisy", "With 4 pixels per batch each step sees a different handful: "
        "the loss jitters up and down; with the whole sprite per batch it is smooth.",
        {"model": "coord", "optimizer": "adam", "lr": 0.001, "batch_size": 4, "epochs": 25},
        lambda r, b: _jitter(r) > 20 * _jitter(b), {"batch_size": 256, "epochs": 400}),
    "overfitting": Experiment(
        "Overfitting", "50 training sprites and no dropout: the training accuracy reaches 100% "
        "while the validation loss turns and climbs (a U-shaped curve); the best checkpoint is early.",
        {"task": "classify", **PRESETS["overfit"]},
        lambda r, _: (int(np.argmin(_val(r))) < len(_val(r)) // 3
                      and _val(r)[-1] > 1.5 * _val(r).min()
                      and r.history["train_accuracy"].dropna().iloc[-1] == 1.0
                      and r.history["val_accuracy"].dropna().max() >= 0.6)),  # chance is 0.5
    "feature_scaling": Experiment(
        "Feature scaling", "Sizes are ~100 and prices ~400: unscaled, lr 0.1 blows the weight up at "
        "once; standardise both (normalize) and the same rate fits the line.",
        {"task": "line", "normalize": True, "lr": 0.1},
        lambda r, b: r.status == "completed" and b.status == "diverged", {"normalize": False}),
}
