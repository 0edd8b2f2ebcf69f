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


def test_page_runs_go_before_redraws_that_waited_longer() -> None:
    """A class presses Start while queued pages poll: every Start's page run is drawn before the
    polls waiting beside it, whatever the order they came in."""
    gate, order, lock = Gate(1, timeout=10), [], threading.Lock()

    def visit(name: str, redraw: bool) -> None:
        with gate.slot(redraw=redraw), lock:
            order.append(name)

    with Crowd(gate, 1) as crowd:  # someone is inside; the others queue behind them
        assert wait_until(lambda: crowd.inside == 1)
        arrivals = [("redraw 1", True), ("page 1", False), ("redraw 2", True), ("page 2", False)]
        threads = []
        for n, (name, redraw) in enumerate(arrivals, start=1):
            threads.append(threading.Thread(target=visit, args=(name, redraw), daemon=True))
            threads[-1].start()
            assert wait_until(lambda n=n: gate.waiting == n)  # each is queued before the next comes
    for t in threads:
        t.join(10)
    assert order[:2] == ["page 1", "page 2"] or order[:2] == ["page 2", "page 1"], order
    assert sorted(order[2:]) == ["redraw 1", "redraw 2"] and gate.overruns == 0


def test_a_redraw_waits_for_no_page_run_only_while_one_is_queued() -> None:
    gate = Gate(2, timeout=10)
    with gate.slot(redraw=True), gate.slot(redraw=True):  # a re-entrant thread holds one place
        assert gate.holders == 1
    with Crowd(gate, 1) as crowd:  # one place taken, one free: a redraw goes straight in
        assert wait_until(lambda: crowd.inside == 1)
        with gate.slot(redraw=True):
            assert gate.holders == 2
    assert gate.holders == 0 and gate.overruns == 0
