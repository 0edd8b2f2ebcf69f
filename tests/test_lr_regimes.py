"""The learning-rate lesson lands on the defaults: along the LR axis, plain SGD crawls (at some rate
at or below 1e-3), converges, oscillates, and diverges (at or below 3), in that order, for every
sprite model, the normalised line fit and the classify MLP; Adam's divergence edge is at or below
1 for the networks.
The rates are read off benchmarks/lr_regimes.py's table (docs/benchmarks.md), which also says why
the exemptions hold: Adam cannot diverge on learnable pixels; classify's logistic regression cannot
fit the shapes nor diverge, and plain SGD barely starts its CNN in 20 epochs (its MLP is tested)."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from playground import RunConfig, train
from playground.compare.regimes import REGIMES, regime, run_regime, start_loss
from playground.config import task_defaults

ORDER = list(REGIMES)  # crawl, converge, oscillate, diverge
SETUPS: dict[str, dict[str, object]] = {
    "pixels": {"model": "pixels"}, "mlp": {"model": "mlp"}, "coord": {"model": "coord"},
    "conv": {"model": "conv"}, "line normalize": {**task_defaults("line"), "normalize": True},
    "classify mlp": {**task_defaults("classify"), "model": "mlp", "patience": 0},
}
# setup -> SGD rates in increasing order -> the regime each shows (the table's cells)
SGD = {
    "pixels": {1e-3: "crawl", 0.01: "converge", 0.3: "converge", 1.0: "oscillate", 3.0: "diverge"},
    "mlp": {3e-4: "crawl", 1e-3: "converge", 1.0: "converge", 1.5: "oscillate", 3.0: "diverge"},
    "coord": {1e-3: "crawl", 0.03: "converge", 0.3: "converge", 1.0: "oscillate", 3.0: "diverge"},
    "conv": {1e-3: "crawl", 3e-3: "converge", 0.03: "converge", 0.04: "oscillate", 0.1: "diverge"},
    "line normalize": {1e-3: "crawl", 0.03: "converge", 0.3: "converge", 1.0: "oscillate",
                       3.0: "diverge"},
    # measured from ln(classes), a uniform guess's loss (docs: why; 0.5 reads as a crawl)
    "classify mlp": {1e-3: "crawl", 0.1: "converge", 0.3: "oscillate", 3.0: "diverge"},
}
ADAM = {  # one rate at or below 1 that diverges, and a smaller one that converges
    "mlp": {0.3: "converge", 0.5: "diverge"},
    "coord": {1e-3: "converge", 0.3: "diverge"},
    "conv": {1e-3: "converge", 1.0: "diverge"},
}


@cache
def regime_at(setup: str, optimizer: str, lr: float) -> str:
    """The regime of one default run (cached: the order and edge tests share runs)."""
    cfg = RunConfig(**{**SETUPS[setup], "optimizer": optimizer, "lr": lr, "momentum": 0.0,
                       "pace": 0})
    result = train(cfg)
    return run_regime(result.history, result.status, start_loss(cfg))


@pytest.mark.parametrize("setup", list(SGD))
def test_sgd_regimes_come_in_order_along_the_lr_axis(setup: str) -> None:
    """Each rate's regime is the table's, and along increasing rates the regimes never go back."""
    got = [regime_at(setup, "sgd", lr) for lr in sorted(SGD[setup])]
    assert got == [SGD[setup][lr] for lr in sorted(SGD[setup])]
    ranks = [ORDER.index(r) for r in got]
    assert ranks == sorted(ranks), got
    assert sorted(set(got), key=ORDER.index) == ORDER


def test_the_stated_edges_hold() -> None:
    """Crawl at or below 1e-3 and diverge at or below 3 for every setup (on the table's rates)."""
    for setup, cells in SGD.items():
        assert any(lr <= 1e-3 and r == "crawl" for lr, r in cells.items()), setup
        assert any(lr <= 3 and r == "diverge" for lr, r in cells.items()), setup
    for model, cells in ADAM.items():
        assert any(lr <= 1 and r == "diverge" for lr, r in cells.items()), model


@pytest.mark.parametrize(("model", "lr", "want"),
                         [(m, lr, want) for m, cells in ADAM.items() for lr, want in cells.items()])
def test_adam_diverges_at_or_below_one(model: str, lr: float, want: str) -> None:
    assert regime_at(model, "adam", lr) == want


def test_the_line_fit_as_shipped_diverges_far_below_the_table() -> None:
    """Unscaled features (the feature-scaling lesson): 1e-5 fits, 1e-4 already diverges."""
    base = {**task_defaults("line"), "optimizer": "sgd", "pace": 0}
    assert run_regime(*_ran(RunConfig(**{**base, "lr": 1e-5}))) == "converge"
    assert run_regime(*_ran(RunConfig(**{**base, "lr": 1e-4}))) == "diverge"


def _ran(cfg: RunConfig) -> tuple[object, str]:
    """A run's history and status."""
    result = train(cfg)
    return result.history, result.status


def test_learnable_pixels_under_sgd_are_the_textbook_quadratic() -> None:
    """lr 0.5 lands in one step; 1.0 flips every pixel between two values; above 1 diverges."""
    base = RunConfig(model="pixels", optimizer="sgd", epochs=6, pace=0)
    land = train(base.replace(lr=0.5)).history["loss"]
    assert land.iloc[1] <= 1e-9 * land.iloc[0]
    flip = train(base.replace(lr=1.0))
    assert np.allclose(flip.history["loss"], flip.history["loss"].iloc[0], rtol=1e-5)
    assert train(base.replace(lr=1.01, epochs=2000)).status == "diverged"


def test_the_regime_words_read_a_loss_curve() -> None:
    assert regime(np.array([1.0, 0.9, 0.8, 0.7]), "completed") == "crawl"
    assert regime(np.array([1.0, 0.1, 0.01]), "completed") == "converge"
    assert regime(np.array([1.0, 0.5, 0.9, 0.4, 0.8, 0.45, 0.85]), "completed") == "oscillate"
    assert regime(np.array([1.0, 1.0, 1.0]), "completed") == "oscillate"  # stuck while flipping
    assert regime(np.array([1.0, 50.0, 0.5, 0.4]), "completed") == "oscillate"  # shot up, stuck
    assert regime(np.array([1.0, 50.0, 0.1, 0.001]), "completed") == "converge"  # a catapult lands
    late_noise = np.r_[1.0, np.geomspace(0.1, 1e-9, 6), 1e-9 * np.array([1, 3, 1, 3, 1, 3])]
    assert regime(late_noise, "completed") == "converge"  # float noise at the floor is no sawing
    assert regime(np.array([1.0, 50.0]), "diverged") == "diverge"
    assert set(REGIMES) == {"crawl", "converge", "oscillate", "diverge"}


def test_a_classifier_is_measured_from_a_uniform_guess() -> None:
    """A classifier's first epoch may already have blown up (47 at lr 1): ending at chance, ln 4,
    is stuck, not converged; without the reference the same curve reads as converged."""
    cfg = RunConfig(**{**task_defaults("classify"), "classes": 4})
    assert start_loss(cfg) == pytest.approx(np.log(4))
    assert start_loss(RunConfig()) is None  # a sprite's first epoch is its start
    at_chance = np.array([47.0, 1.5, 1.39, 1.39])
    assert regime(at_chance, "completed") == "converge"
    assert regime(at_chance, "completed", start_loss(cfg)) == "oscillate"
    assert regime(np.array([1.38, 0.5, 0.05]), "completed", start_loss(cfg)) == "converge"


def test_the_default_run_completes_and_learns_its_sprite() -> None:
    """What Start on the untouched page trains (the browser test watches it at its pace)."""
    result = train(RunConfig().replace(pace=0))
    loss = result.history["loss"].to_numpy()
    assert result.status == "completed", result.summary()
    assert loss[-1] < loss[0] / 10, (loss[0], loss[-1])
