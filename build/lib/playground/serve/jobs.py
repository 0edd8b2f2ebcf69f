"""Background jobs for the compare tools (race, stability map): run once to the end in a thread,
publish progress under a lock, cancel on request. Like the runner, they never call Streamlit and
they share the process-wide cap on trainings."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from playground.serve.admission import LIMITS, SLOTS, Slots, next_id
from playground.serve.limits import Limits

log = logging.getLogger(__name__)


class Cancelled(Exception):
    """Raised inside a job's work when the user cancelled it (or its session went away)."""


class Job:
    """One background computation with a lock-protected view of its progress."""

    def __init__(self, name: str, work: Callable[[Job], Any], limits: Limits | None = None,
                 slots: Slots | None = None) -> None:
        self.name, self.work = name, work
        self.limits, self.slots = limits or LIMITS, slots or SLOTS
        self.id = next_id()
        self._lock = threading.Lock()
        self._state: dict[str, Any] = {"status": "queued", "progress": 0.0, "message": ""}
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._deadline: float | None = None
        self.started = time.monotonic()

    def start(self) -> Job:
        """Run the work in a daemon thread; returns self for chaining."""
        self._thread = threading.Thread(target=self._run, name=f"playground-job-{self.id}",
                                        daemon=True)
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Ask the work to stop at its next check."""
        self._cancel.set()

    def abandon(self) -> None:
        """The session went away: cancel unless a poll comes back within the grace period."""
        self._deadline = time.monotonic() + self.limits.session_grace

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def join(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.alive

    # For the work function (worker thread) ---------------------------------------------------
    def check(self) -> None:
        """Raise Cancelled if the user cancelled, the session left, or the time budget ran out."""
        if self._deadline is not None and time.monotonic() > self._deadline:
            self._cancel.set()
        if time.monotonic() - self.started > self.limits.max_seconds:
            self.publish(message=f"Stopped at this server's limit of "
                                 f"{self.limits.max_seconds:g} seconds per run.")
            self._cancel.set()
        if self._cancel.is_set():
            raise Cancelled

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def publish(self, **state: Any) -> None:
        """Replace parts of the published state (values should not be mutated afterwards)."""
        with self._lock:
            self._state.update(state)

    # For the page ----------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """A shallow copy of the published state; a poll also proves the page is alive."""
        self._deadline = None
        with self._lock:
            return dict(self._state)

    def _run(self) -> None:
        """Wait for a training slot, run the work, and record how it ended."""
        try:
            while not self.slots.acquire(self.id, timeout=0.2):
                self.publish(status="queued", position=self.slots.position(self.id))
                self.check()
            self.publish(status="running")
            result = self.work(self)
            self.publish(status="done", progress=1.0, result=result)
        except Cancelled:
            self.publish(status="cancelled")
        except Exception as exc:  # shown as a message; the traceback goes to the server log
            log.exception("job %s (%s) failed", self.id, self.name)
            self.publish(status="error", message=f"{self.name} stopped by an internal error "
                                                 f"({type(exc).__name__}); details are in the "
                                                 "server log.")
        finally:
            self.slots.release(self.id)
