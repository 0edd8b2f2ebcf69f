"""Admission: who may use the server's shared resources, and when.

- `Gate`: a few sessions run page code at once; the rest wait (fifty tabs loading at once would
  otherwise take turns on one GIL, and the health check would wait behind all of them).
- `MemoryBudget`: a cap on the tensor memory runs hold; ended runs give theirs back first.
The process-wide instances (`LIMITS`, `MEMORY`) and run ids live here too. Trainings queue for
the pool's worker processes (serve/pool.py).
"""

from __future__ import annotations

import itertools
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import TYPE_CHECKING, ParamSpec, Protocol, TypeVar

from playground.serve.limits import Limits

if TYPE_CHECKING:
    from playground.engine import Trainer

P = ParamSpec("P")
R = TypeVar("R")


class Gate:
    """A counting gate that a thread may re-enter (a full run draws its fragments inline). Page
    runs (a click, a page load) go before redraws (a fragment's timer): when a class presses Start
    together, 48 queued pages polling every 2 s would otherwise share the places with the Start
    runs, and the last Start would be drawn seconds later (docs/reliability.md)."""

    def __init__(self, width: int, timeout: float = 30.0) -> None:
        self.width, self.timeout = width, timeout
        self._inside = threading.local()
        self._cond = threading.Condition()
        self.holders = 0  # threads inside now
        self.waiting = 0  # threads queued at the gate now
        self.waiting_pages = 0  # of those, page runs (which go first)
        self.overruns = 0  # entries that stopped waiting after `timeout` and went in anyway

    @contextmanager
    def slot(self, redraw: bool = False) -> Iterator[None]:
        """Hold one of `width` places while the block runs (a `redraw` waits while page runs
        wait); waiting longer than `timeout` lets the thread in anyway, so a stuck page can slow
        others down but never lock them out."""
        if getattr(self._inside, "depth", 0):
            self._inside.depth += 1
            try:
                yield
            finally:
                self._inside.depth -= 1
            return
        self._enter(redraw)
        self._inside.depth = 1
        try:
            yield
        finally:
            self._inside.depth = 0
            with self._cond:
                self.holders -= 1
                self._cond.notify_all()

    def _enter(self, redraw: bool) -> None:
        """Wait for a place (a redraw also for no page run to be waiting), at most `timeout`."""
        with self._cond:
            def free() -> bool:
                return self.holders < self.width and not (redraw and self.waiting_pages)
            if not free():
                self.waiting += 1
                self.waiting_pages += not redraw
                try:
                    if not self._cond.wait_for(free, timeout=self.timeout):
                        self.overruns += 1
                finally:
                    self.waiting -= 1
                    self.waiting_pages -= not redraw
            self.holders += 1

    def gated(self, fn: Callable[P, R]) -> Callable[P, R]:
        """Decorate a fragment so that its whole body runs inside the gate, as a redraw."""
        @wraps(fn)
        def inner(*args: P.args, **kwargs: P.kwargs) -> R:
            with self.slot(redraw=True):
                return fn(*args, **kwargs)
        return inner


MB = 2**20


def mb(n: float) -> str:
    """Bytes as MB a person reads: one decimal below 10 MB, whole numbers above."""
    return f"{n / MB:,.1f} MB" if n < 10 * MB else f"{n / MB:,.0f} MB"


class RunRefused(Exception):
    """A run this server cannot hold in memory; the message says what to do instead."""


class MemoryBudget:
    """A process-wide cap on the tensor memory runs hold. A new run first takes memory back from
    ended runs, oldest first (their curves and pictures stay); if that is not enough it is refused."""

    def __init__(self, per_run_mb: float, total_mb: float) -> None:
        self.per_run, self.total = per_run_mb * MB, total_mb * MB
        self._runners: weakref.WeakSet[Holder] = weakref.WeakSet()
        self._lock = threading.Lock()

    def admit(self, runner: Holder, trainer: Trainer) -> int:
        """Make room for this runner's new trainer (not yet stepping), or raise RunRefused; returns
        the bytes it was admitted with. Other runs are never inspected: their workers may be
        stepping, and reading a tensor's storage while another thread frees it crashes torch."""
        need = trainer.expected_nbytes
        if need > self.per_run:
            raise RunRefused(f"This model needs {mb(need)}; this server allows {mb(self.per_run)} "
                             "per run. Choose a smaller size or model.")
        with self._lock:
            others = [r for r in self._runners if r is not runner]
            held = sum(r.held_bytes() for r in others)
            for old in sorted((r for r in others if r.releasable()), key=lambda r: r.ended_at):
                if held + need <= self.total:
                    break
                held -= old.release_weights()
            if held + need > self.total:
                raise RunRefused(f"The server is busy: other sessions' runs hold {mb(held)} of its "
                                 f"{mb(self.total)} for models. Try a smaller model, "
                                 "or again when some runs have ended.")
            self._runners.add(runner)
        return need

class Holder(Protocol):
    """What the memory budget needs of a session's runner."""

    ended_at: float

    def held_bytes(self) -> int: ...

    def releasable(self) -> bool: ...

    def release_weights(self) -> int: ...


LIMITS = Limits.from_env()
MEMORY = MemoryBudget(LIMITS.max_run_mb, LIMITS.max_models_mb)
_ids = itertools.count(1)


def next_id() -> int:
    """A process-wide id for a run or a job (its place in the slot queue)."""
    return next(_ids)
