"""The pool's turns: fair to a whole class, short when the queue is long."""

from __future__ import annotations

from playground.serve.limits import Limits
from playground.serve.pool import MIN_TURN, Pool


class Stub:
    """Only what `Pool.turn` reads: the workers and the queue."""

    def __init__(self, workers: int, waiting: int, turn_seconds: float = 10.0) -> None:
        self.workers = [object()] * workers
        self._queue = [object()] * waiting
        self.limits = Limits(turn_seconds=turn_seconds)


def test_turns_shorten_as_the_queue_grows_but_not_below_the_minimum() -> None:
    assert Pool.turn(Stub(2, 0)) == 10.0
    assert Pool.turn(Stub(2, 2)) == 5.0
    assert Pool.turn(Stub(2, 48)) == MIN_TURN  # 50 tabs: the last one's first step in ~12 s
    assert Pool.turn(Stub(16, 48)) == 2.5
