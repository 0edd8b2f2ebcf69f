"""A diverged run in the worker pool: its autopsy comes back with its last update, its per-parameter
norms arrive with the rows, and Retry carries it on from the weights it ended with at lr / 10."""

from __future__ import annotations

import math

import pytest
import torch

from playground import RunConfig
from playground.engine import RATIO_EVERY, Trainer, build
from playground.serve import MemoryBudget, Pool, Runner
from playground.serve.limits import Limits
from playground.serve.worker import unpack
from tests.helpers import wait_until

DIVERGES = RunConfig(model="mlp", optimizer="sgd", lr=1000.0, epochs=60, size=8, pace=0)


@pytest.fixture
def runner(pool: Pool):
    r = Runner(Limits(), pool, MemoryBudget(256, 1536))
    yield r
    r.stop(wait=True)
    assert r.join(5)


def test_a_run_sends_its_per_parameter_norms(runner: Runner) -> None:
    runner.start(DIVERGES.replace(optimizer="adam", lr=0.01, epochs=35))
    snap = wait_until(lambda: (s := runner.snapshot()).state == "completed" and s, 30)
    layers = snap.layers
    assert list(layers["step"]) == [RATIO_EVERY, 2 * RATIO_EVERY, 3 * RATIO_EVERY]
    assert "grad:net.0.weight" in layers.columns and "update:net.4.bias" in layers.columns
    assert (layers["grad:net.4.weight"] > 0).all()


def test_retry_carries_on_from_the_last_good_weights_at_a_tenth_of_the_lr(runner: Runner) -> None:
    runner.start(DIVERGES)
    snap = wait_until(lambda: (s := runner.snapshot()).state == "diverged" and s, 30)
    found = snap.view["autopsy"]
    assert found["parameter"].startswith("net.") and found["step"] == snap.n_rows
    assert found["tensor"] in ("weights", "gradient") and found["what"]
    kept = Trainer(DIVERGES, build(DIVERGES))  # the weights the run ended with, rebuilt here
    kept.load_state_dict(unpack(runner._saved))
    x, y = next(iter(kept.b.loader))
    with torch.no_grad():
        want = float(kept.b.criterion(kept.b.model(x), y))
    ended_at, run_id = snap.n_rows, snap.run_id

    assert runner.retry()
    snap = wait_until(lambda: (s := runner.snapshot()).state in ("completed", "diverged")
                      and s.n_rows > ended_at and s, 30)
    first = runner.rows_since(ended_at)
    assert first["step"][0] == ended_at + 1
    assert first["loss"][0] == pytest.approx(want, rel=1e-5)
    assert first["lr"][0] == pytest.approx(DIVERGES.lr / 10)
    assert (ended_at, "lr", pytest.approx(DIVERGES.lr / 10)) in snap.events
    assert snap.run_id == run_id + 1 and snap.base_lr == pytest.approx(DIVERGES.lr / 10)
    assert "autopsy" not in (snap.view or {}) or snap.view["autopsy"]["step"] > ended_at
    assert math.isfinite(first["loss"][0])


def test_retry_needs_an_ended_run(runner: Runner) -> None:
    assert not runner.retry()  # nothing run yet
    runner.start(DIVERGES.replace(lr=0.01, epochs=1_000_000))
    wait_until(lambda: runner.snapshot().n_rows > 0)
    assert not runner.retry()  # still going
