"""The page gate: at most `width` threads inside, re-entrant per thread, never a lock-out."""

from __future__ import annotations

import threading

import pytest

from playground.serve.admission import Gate
from tests.helpers import wait_until


class Crowd:
    """Threads that enter a gate and stay inside until released, counting who is in."""

    def __init__(self, gate: Gate, n: int) -> None:
        self.gate, self.release = gate, threading.Event()
        self.lock, self.inside, self.most, self.done = threading.Lock(), 0, 0, 0
        self.threads = [threading.Thread(target=self._visit, daemon=True) for _ in range(n)]

    def _visit(self) -> None:
        with self.gate.slot():
            with self.lock:
                self.inside += 1
                self.most = max(self.most, self.inside)
            self.release.wait(10)
            with self.lock:
                self.inside -= 1
                self.done += 1

    def __enter__(self) -> Crowd:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        for t in self.threads:
            t.join(10)


@pytest.mark.parametrize("width", [1, 2, 3])
def test_at_most_width_threads_are_inside(width: int) -> None:
    gate = Gate(width)
    with Crowd(gate, 6) as crowd:
        assert wait_until(lambda: crowd.inside == width and gate.waiting == 6 - width)
        assert crowd.most == width
    assert crowd.done == 6 and crowd.most == width and gate.overruns == 0


def test_a_thread_reenters_without_deadlock() -> None:
    gate = Gate(1, timeout=5)
    seen = []

    @gate.gated
    def fragment() -> str:
        seen.append(gate.waiting)
        return "drawn"

    with gate.slot():  # a full run draws its fragment inline
        assert fragment() == "drawn"
    assert fragment.__name__ == "fragment" and seen == [0]
    assert gate.overruns == 0


def test_the_place_is_freed_when_the_block_raises() -> None:
    gate = Gate(1, timeout=5)
    with pytest.raises(RuntimeError), gate.slot():
        raise RuntimeError("rerun")  # Streamlit's rerun and stop arrive as exceptions
    with Crowd(gate, 1) as crowd:
        assert wait_until(lambda: crowd.inside == 1)
    assert gate.overruns == 0


def test_a_stuck_holder_slows_others_but_never_locks_them_out() -> None:
    gate = Gate(1, timeout=0.05)
    with Crowd(gate, 2) as crowd:  # the first holds on; the second gives up waiting and goes in
        assert wait_until(lambda: crowd.inside == 2, timeout=5)
    assert gate.overruns == 1 and crowd.done == 2
