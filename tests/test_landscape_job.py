"""A run's landscape as a job in the worker pool: the worker records the trajectory, a paused or
ended run hands over its state, the job respects the server's evaluation cap, publishes progress
and cancels."""

from __future__ import annotations

import numpy as np
import pytest

from playground import RunConfig
from playground.compare.landscape import LandscapeOptions, compute
from playground.serve import MemoryBudget, Pool, Runner
from playground.serve.film import GIF_STEPS
from playground.serve.jobs import Job
from playground.serve.limits import Limits
from playground.serve.trajectory import Trajectory
from playground.serve.worker import unpack
from tests.helpers import wait_until

CLASSIFY = RunConfig(task="classify", model="cnn", loss="ce", samples=120, size=8, epochs=3,
                     batch_size=16, lr=0.01, pace=0)


@pytest.fixture(scope="module")
def pool1():
    p = Pool(1, Limits())
    assert p.wait_ready(180)
    yield p
    p.close()


@pytest.fixture
def runner(pool1: Pool):
    r = Runner(Limits(), pool1, MemoryBudget(256, 1536))
    yield r
    r.stop(wait=True)
    assert r.join(10)


def test_the_trajectory_keeps_its_budget_and_spans_the_run() -> None:
    path = Trajectory(budget_mb=10 * 4000 / 1024 / 1024)  # room for ten 1,000-float snapshots
    steps = sorted(s for s in GIF_STEPS if s < 5000)
    path.extend([(0, np.zeros(1000, np.float32))] + [(s, np.ones(1000, np.float32)) for s in steps])
    kept = [s for s, _ in path.points]
    assert path.nbytes <= path.budget and len(kept) >= 5
    assert kept[0] == 0 and kept == sorted(kept) and kept[-1] > 1000
    path.extend([(100, np.ones(1000, np.float32))])  # a step passed again (a restored run)
    assert [s for s, _ in path.points][-1] == 100


def test_an_ended_run_has_a_trajectory_and_a_landscape_job_draws_it(runner: Runner,
                                                                     pool1: Pool) -> None:
    runner.start(CLASSIFY)
    assert runner.join(120) and runner.snapshot().state == "completed"
    cfg, target, state, path = runner.landscape_parts()
    steps = [s for s, _ in path]
    assert steps[0] == 0 and set(steps[1:]) <= GIF_STEPS and len(steps) > 5
    job = Job("Landscape", "landscape", (cfg, target, state, path, LandscapeOptions(resolution=5)),
              pool=pool1).start()
    assert job.join(120)
    snap = job.snapshot()
    assert snap["status"] == "done" and snap["progress"] == 1.0, snap["message"]
    here = compute(cfg, target, unpack(state), path, LandscapeOptions(resolution=5))
    assert snap["result"].centre_loss == pytest.approx(here.centre_loss)
    assert snap["result"].path["step"].iloc[-1] == unpack(state)["step"]


def test_the_job_refuses_more_evaluations_than_the_server_allows(runner: Runner,
                                                                   pool1: Pool) -> None:
    runner.start(CLASSIFY.replace(epochs=1))
    assert runner.join(120)
    parts = runner.landscape_parts()
    job = Job("Landscape", "landscape", (*parts, LandscapeOptions(resolution=53)), pool=pool1).start()
    assert job.join(60)
    snap = job.snapshot()  # 53 x 53 = 2,809 evaluations; the server's default cap is 51 x 51
    assert snap["status"] == "error" and "allows 2,601 per landscape" in snap["message"]


def test_a_paused_run_hands_over_its_state_and_a_running_one_does_not(runner: Runner) -> None:
    runner.start(CLASSIFY.replace(epochs=100_000))
    wait_until(lambda: runner.snapshot().n_rows > 20, timeout=60, what="the run to step")
    assert runner.landscape_parts() is None  # a worker holds it: its weights are moving
    runner.pause()
    parts = wait_until(runner.landscape_parts, timeout=30, what="the paused run's state")
    state = unpack(parts[2])
    assert state["step"] == runner.snapshot().last.step


def test_cancel_stops_a_landscape(runner: Runner, pool1: Pool) -> None:
    runner.start(CLASSIFY.replace(epochs=1))
    assert runner.join(120)
    job = Job("Landscape", "landscape", (*runner.landscape_parts(),
                                         LandscapeOptions(resolution=51)), pool=pool1).start()
    wait_until(lambda: job.snapshot()["progress"] > 0.01, timeout=60, what="the job to progress")
    job.cancel()
    assert job.join(10)
    snap = job.snapshot()
    assert snap["status"] == "cancelled" and snap["progress"] < 0.5
