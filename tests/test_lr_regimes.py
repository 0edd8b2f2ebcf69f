"""The learning-rate lesson lands on the defaults: for every sprite model, plain SGD crawls at some
rate at or below 1e-3, converges in the middle, and diverges at or below 3; Adam's divergence edge
is at or below 1 for the networks. The rates are the edges of benchmarks/lr_regimes.py's table."""

from __future__ import annotations

import numpy as np
import pytest

from playground import RunConfig, train
from playground.compare.regimes import REGIMES, regime, run_regime

# model -> optimizer -> {lr: regime}, read off the table in docs/benchmarks.md
EDGES = {
    "pixels": {"sgd": {1e-3: "crawl", 0.1: "converge", 1.0: "oscillate", 3.0: "diverge"},
               "adam": {1e-3: "crawl", 0.01: "converge", 10.0: "oscillate"}},  # overshoots, never diverges
    "mlp": {"sgd": {1e-4: "crawl", 0.01: "converge", 0.18: "oscillate", 0.3: "diverge"},
            "adam": {1e-3: "converge", 0.3: "diverge"}},
    "coord": {"sgd": {1e-3: "crawl", 0.1: "converge", 1.0: "oscillate", 3.0: "diverge"},
              "adam": {1e-4: "crawl", 1e-3: "converge", 0.3: "diverge"}},
    "conv": {"sgd": {1e-3: "crawl", 0.03: "oscillate", 0.1: "converge", 1.0: "diverge"},
             "adam": {1e-3: "converge", 0.03: "diverge"}},
}
CASES = [(m, o, lr, want) for m, opts in EDGES.items() for o, lrs in opts.items()
         for lr, want in lrs.items()]


@pytest.mark.parametrize(("model", "optimizer", "lr", "want"), CASES)
def test_the_default_setup_shows_the_regime(model: str, optimizer: str, lr: float, want: str) -> None:
    result = train(RunConfig(model=model, optimizer=optimizer, lr=lr, momentum=0.0, pace=0))
    assert run_regime(result.history, result.status) == want


def test_the_stated_edges_hold_for_every_model() -> None:
    for model, opts in EDGES.items():
        sgd = opts["sgd"]
        assert any(lr <= 1e-3 and r == "crawl" for lr, r in sgd.items()), model
        assert any(r == "converge" for r in sgd.values()), model
        assert any(r == "oscillate" for r in sgd.values()), model
        assert any(lr <= 3 and r == "diverge" for lr, r in sgd.items()), model
        if model != "pixels":
            assert any(lr <= 1 and r == "diverge" for lr, r in opts["adam"].items()), model


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
    assert regime(np.array([1.0, 0.5, 0.9, 0.4, 0.8]), "completed") == "oscillate"
    assert regime(np.array([1.0, 1.0, 1.0]), "completed") == "oscillate"  # stuck while flipping
    assert regime(np.array([1.0, 50.0, 0.1, 0.001]), "completed") == "oscillate"  # overshoot
    assert regime(np.array([1.0, 50.0]), "diverged") == "diverge"
    assert set(REGIMES) == {"crawl", "converge", "oscillate", "diverge"}
