"""Admission control for page code: a few sessions run their script at once, the rest wait.

Every browser tab runs the app on its own thread in one Python process. Fifty tabs loading at
once means fifty threads taking turns on one GIL, so each page, each training step and the
server's health check wait behind all of them. Threads blocked on this gate do not compete for
the GIL; the sessions inside it, the trainings and the event loop get it back quickly.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import ParamSpec, TypeVar

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

