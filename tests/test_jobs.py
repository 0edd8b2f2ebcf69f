"""Compare jobs in the worker pool: progress and results, cancel, errors without internals, queueing
behind the runs, and a job whose session went away."""

from __future__ import annotations

import pytest

from playground import RunConfig
from playground.serve import MemoryBudget, Pool, Runner
from playground.serve.jobs import Job
from playground.serve.limits import Limits
from tests.helpers import wait_until

PIXELS = RunConfig(model="pixels", size=8, epochs=40, pace=0)
LONG_RACE = ([PIXELS.replace(epochs=1_000_000, lr=0.01), PIXELS.replace(epochs=1_000_000, lr=0.1)],
             ["slow", "fast"], None)


@pytest.fixture(scope="module")
def pool1():
    p = Pool(1, Limits())
    assert p.wait_ready(180)
    yield p
    p.close()


def test_a_race_job_runs_to_the_end_and_publishes_its_leaderboard(pool1: Pool) -> None:
    configs = [PIXELS.replace(lr=0.01), PIXELS.replace(lr=0.1)]
    job = Job("Race", "race", (configs, ["a", "b"], None), pool=pool1).start()
    assert job.join(60)
    snap = job.snapshot()
    assert snap["status"] == "done" and snap["progress"] == 1.0 and snap["step"] == 40
    assert list(snap["leaderboard"]["name"]) == ["b", "a"] and len(snap["curves"]) == 2


def test_an_lr_range_test_job_returns_its_suggestion(pool1: Pool) -> None:
    job = Job("LR range test", "lr_find", (PIXELS.replace(optimizer="sgd"), {"steps": 60}),
              pool=pool1).start()
    assert job.join(60)
    result = job.snapshot()["result"]
    assert result.suggestion is not None and 1e-3 <= result.suggestion <= 1.0


def test_cancel_stops_the_work(pool1: Pool) -> None:
    job = Job("Race", "race", LONG_RACE, pool=pool1).start()
    wait_until(lambda: job.snapshot().get("step", 0) > 10, timeout=30, what="the race to step")
    job.cancel()
    assert job.join(10)
    snap = job.snapshot()
    assert snap["status"] == "cancelled" and snap["progress"] < 1


@pytest.mark.parametrize(("args", "message"), [
    ((PIXELS, {"bogus": 1}), "internal error (TypeError)"),  # a bug: one sentence, no internals
    ((PIXELS, {"start": 1.0, "end": 0.1}), "need 0 < start < end"),  # a bad setting: its reason
])
def test_an_error_becomes_a_message_without_internals(pool1: Pool, args: tuple, message: str) -> None:
    job = Job("LR range test", "lr_find", args, pool=pool1).start()
    assert job.join(60)
    snap = job.snapshot()
    assert snap["status"] == "error" and message in snap["message"]
    assert "Traceback" not in snap["message"] and "bogus" not in snap["message"]


def test_jobs_queue_with_the_runs_for_the_workers(pool1: Pool) -> None:
    run = Runner(Limits(), pool1, MemoryBudget(256, 1536))
    try:
        run.start(PIXELS.replace(epochs=1_000_000))
        wait_until(lambda: run.snapshot().n_rows > 0)
        job = Job("Race", "race", ([PIXELS, PIXELS.replace(lr=0.1)], ["a", "b"], None),
                  pool=pool1).start()
        snap = wait_until(lambda: (s := job.snapshot())["status"] == "queued" and s)
        assert snap["position"] == 1
        assert job.join(60) and job.snapshot()["status"] == "done"  # the run made way for it
    finally:
        run.stop(wait=True)


def test_an_abandoned_job_cancels_itself(pool1: Pool) -> None:
    job = Job("Race", "race", LONG_RACE, Limits(session_grace=0.01), pool=pool1).start()
    wait_until(lambda: job.snapshot()["status"] == "running", timeout=30)
    job.abandon()  # no poll follows: the pool's ticker cancels it after the grace
    assert job.join(10) and job._state["status"] == "cancelled"
