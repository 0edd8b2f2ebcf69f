"""Admission: who may use the server's shared resources, and when.

- `Gate`: a few sessions run page code at once; the rest wait (fifty tabs loading at once would
  otherwise take turns on one GIL, and the health check would wait behind all of them).
- `Slots`: a cap on trainings that step at once; the rest queue in arrival order.
- `MemoryBudget`: a cap on the tensor memory runs hold; ended runs give theirs back first.
The process-wide instances (`LIMITS`, `SLOTS`, `MEMORY`) and run ids live here too.
"""

from __future__ import annotations

import collections
import itertools
import threading
import time
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
    """A counting gate that a thread may re-enter (a full run draws its fragments inline)."""

    def __init__(self, width: int, timeout: float = 30.0) -> None:
        self.width, self.timeout = width, timeout
        self._free = threading.BoundedSemaphore(width)
        self._inside = threading.local()
        self._lock = threading.Lock()
        self.waiting = 0  # threads queued at the gate now
        self.overruns = 0  # entries that stopped waiting after `timeout` and went in anyway

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of `width` places while the block runs; waiting longer than `timeout` lets
        the thread in anyway, so a stuck page can slow others down but never lock them out."""
        if getattr(self._inside, "depth", 0):
            self._inside.depth += 1
            try:
                yield
            finally:
                self._inside.depth -= 1
            return
        got = self._enter()
        self._inside.depth = 1
        try:
            yield
        finally:
            self._inside.depth = 0
            if got:
                self._free.release()

    def _enter(self) -> bool:
        """Wait for a place; False when the wait timed out."""
        if self._free.acquire(blocking=False):
            return True
        with self._lock:
            self.waiting += 1
        try:
            got = self._free.acquire(timeout=self.timeout)
        finally:
            with self._lock:
                self.waiting -= 1
        if not got:
            with self._lock:
                self.overruns += 1
        return got

    def gated(self, fn: Callable[P, R]) -> Callable[P, R]:
        """Decorate a function so that its whole body runs inside the gate."""
        @wraps(fn)
        def inner(*args: P.args, **kwargs: P.kwargs) -> R:
            with self.slot():
                return fn(*args, **kwargs)
        return inner


class Slots:
    """A process-wide cap on trainings that step at once; the rest wait in arrival order."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._cond = threading.Condition()
        self._holders: set[int] = set()
        self._queue: collections.deque[int] = collections.deque()

    def acquire(self, who: int, timeout: float) -> bool:
        """Wait up to `timeout` for a slot; stays queued (keeps its place) when it times out."""
        with self._cond:
            if who in self._holders:
                return True
            if who not in self._queue:
                self._queue.append(who)
            deadline = time.monotonic() + timeout
            while not self._my_turn(who):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            self._queue.remove(who)
            self._holders.add(who)
            return True

    def _my_turn(self, who: int) -> bool:
        free = self.capacity - len(self._holders)
        return free > 0 and who in itertools.islice(self._queue, free)

    def release(self, who: int) -> None:
        """Give the slot (or the place in the queue) back."""
        with self._cond:
            self._holders.discard(who)
            if who in self._queue:
                self._queue.remove(who)
            self._cond.notify_all()

    def position(self, who: int) -> int:
        """0 while holding a slot, else 1-based place in the queue (0 if not waiting)."""
        with self._cond:
            if who in self._holders or who not in self._queue:
                return 0
            return self._queue.index(who) + 1

    @property
    def busy(self) -> int:
        """Trainings holding a slot now."""
        with self._cond:
            return len(self._holders)

    @property
    def waiting(self) -> int:
        """Trainings queued for a slot now."""
        with self._cond:
            return len(self._queue)


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
SLOTS = Slots(LIMITS.max_trainings)
MEMORY = MemoryBudget(LIMITS.max_run_mb, LIMITS.max_models_mb)
_ids = itertools.count(1)


def next_id() -> int:
    """A process-wide id for a run or a job (its place in the slot queue)."""
    return next(_ids)
