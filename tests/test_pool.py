"""The pool's turns: fair to a whole class, short when the queue is long."""

from __future__ import annotations

import os
import signal
import threading

from playground.serve.limits import Limits
from playground.serve.pool import CYCLE, MIN_TURN, Pool


class Stub:
    """Only what `Pool.turn` reads: the workers and the queue."""

    def __init__(self, workers: int, waiting: int, turn_seconds: float = 10.0) -> None:
        self.workers = [object()] * workers
        self._queue = [object()] * waiting
        self.limits = Limits(turn_seconds=turn_seconds)


def test_turns_shorten_as_the_queue_grows_but_not_below_the_minimum() -> None:
    assert Pool.turn(Stub(2, 0)) == 10.0  # nobody waits: no turns
    assert Pool.turn(Stub(2, 1)) == 10.0  # never longer than turn_seconds
    assert Pool.turn(Stub(2, 4)) == 2.5  # the queue gets its turns within CYCLE (5 s)
    assert Pool.turn(Stub(2, 48)) == MIN_TURN  # 50 tabs on 2 workers: the last one's first step in ~6 s
    assert Pool.turn(Stub(16, 48)) == CYCLE * 16 / 48
    for workers in (1, 2, 16):  # whatever the queue, a full round of turns fits in CYCLE
        for waiting in range(1, 200):  # (or each waiting run gets MIN_TURN)
            turn = Pool.turn(Stub(workers, waiting))
            assert MIN_TURN <= turn <= 10.0
            assert turn * waiting / workers <= CYCLE + 1e-9 or turn == MIN_TURN


def test_a_dead_worker_gets_no_task_before_its_replacement_is_ready() -> None:
    """Between a worker's death and its replacement, the pool is not ready and a new run waits
    (it once went to the dead worker's pipe and ended with the crash sentence)."""
    from playground import RunConfig
    from playground.serve import MemoryBudget, Runner
    from tests.helpers import wait_until

    pool = Pool(1, Limits(), warm=False)
    try:
        assert pool.wait_ready(120)
        dead = pool.workers[0]
        noticed, gate = threading.Event(), threading.Event()
        replace = pool._replace  # held back until the test lets it go
        pool._replace = lambda index: (noticed.set(), gate.wait(30), replace(index))
        os.kill(dead.pid, signal.SIGKILL)
        assert noticed.wait(30), "the pool did not notice the death"
        assert not pool.wait_ready(0.3)
        runner = Runner(Limits(), pool, MemoryBudget(256, 1536))
        assert runner.start(RunConfig(model="mlp", epochs=1000, size=8, pace=0))
        assert pool.position(runner._task) == 1 and dead.task is None
        gate.set()
        assert pool.wait_ready(120)
        wait_until(lambda: runner.snapshot().n_rows > 0, timeout=60, what="the run on the new worker")
        runner.stop(wait=True)
    finally:
        pool.close()
