"""Background jobs for the compare tools: progress, cancel, errors, the shared training cap."""

from __future__ import annotations

import threading

from playground.serve import Slots
from playground.serve.jobs import Job
from playground.serve.limits import Limits
from tests.helpers import wait_until


def counting(n: int, gate: threading.Event | None = None):
    def work(job: Job) -> int:
        for i in range(n):
            if gate is not None:
                gate.wait(5)
            job.check()
            job.publish(progress=(i + 1) / n)
        return n
    return work


def test_job_runs_to_the_end_and_publishes_its_result() -> None:
    job = Job("count", counting(50), Limits(), Slots(1)).start()
    assert job.join(10)
    snap = job.snapshot()
    assert snap["status"] == "done" and snap["result"] == 50 and snap["progress"] == 1.0


def test_cancel_stops_the_work() -> None:
    gate = threading.Event()
    job = Job("count", counting(10_000, gate), Limits(), Slots(1)).start()
    wait_until(lambda: job.snapshot()["status"] == "running")
    job.cancel()
    gate.set()
    assert job.join(10)
    assert job.snapshot()["status"] == "cancelled" and job.snapshot()["progress"] < 1


def test_an_error_becomes_a_message_without_internals() -> None:
    def boom(job: Job) -> None:
        raise ValueError("secret")
    job = Job("Race", boom, Limits(), Slots(1)).start()
    assert job.join(10)
    snap = job.snapshot()
    assert snap["status"] == "error" and "internal error (ValueError)" in snap["message"]
    assert "secret" not in snap["message"]


def test_jobs_queue_behind_the_training_cap() -> None:
    slots, gate = Slots(1), threading.Event()
    first = Job("a", counting(3, gate), Limits(), slots).start()
    wait_until(lambda: first.snapshot()["status"] == "running")
    second = Job("b", counting(3), Limits(), slots).start()
    wait_until(lambda: second.snapshot().get("position") == 1, what="second to queue")
    gate.set()
    assert first.join(10) and second.join(10)
    assert second.snapshot()["status"] == "done"


def test_an_abandoned_job_cancels_itself() -> None:
    gate = threading.Event()
    job = Job("count", counting(10_000, gate), Limits(session_grace=0.01), Slots(1)).start()
    wait_until(lambda: job.snapshot()["status"] == "running")
    job.abandon()
    threading.Event().wait(0.05)  # let the grace period pass (a deadline, not a synchronisation)
    gate.set()
    assert job.join(10) and job._state["status"] == "cancelled"
