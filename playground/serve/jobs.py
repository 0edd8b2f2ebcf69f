"""Compare jobs (race, stability map, LR range test) as the page sees them: queued in the pool with
the runs, done by a worker process to the end, their progress published back, cancelled on request.
The work itself is in serve/work.py and runs in the worker; nothing here calls Streamlit."""

from __future__ import annotations

import threading
import time
from typing import Any

from playground.serve.admission import LIMITS, next_id
from playground.serve.limits import Limits
from playground.serve.pool import Pool, shared_pool

DONE = ("done", "cancelled", "error")


class Job:
    """One compare job: its published progress, and how it ended."""

    def __init__(self, name: str, kind: str, args: tuple, limits: Limits | None = None,
                 pool: Pool | None = None) -> None:
        self.name, self.kind, self.args = name, kind, args
        self.limits = limits or LIMITS
        self.pool = pool or shared_pool()
        self.id = next_id()
        self._cond = threading.Condition()
        self._state: dict[str, Any] = {"status": "queued", "progress": 0.0, "message": ""}
        self._deadline: float | None = None
        self.started = time.monotonic()

    # The pool's side -------------------------------------------------------------------------
    def first_message(self) -> tuple:
        self.publish(status="running")
        return ("job", self.id, self.kind, self.args)

    def on_message(self, msg: tuple) -> bool:
        """Progress, or the end (True: the worker is free again)."""
        if msg[0] == "job":
            self.publish(**msg[2])
            return False
        _, _, status, result, message = msg
        self.publish(status=status, result=result, message=message or self._state.get("message", ""),
                     progress=1.0 if status == "done" else self._state.get("progress", 0.0))
        return True

    def on_crash(self, sentence: str) -> None:
        self.publish(status="error", message=sentence.replace("run", "job", 1))

    def wants_turns(self) -> bool:
        return False  # a job runs to its end (bounded by max_seconds) once it has a worker

    def requeue(self) -> bool:
        return False

    # The page's side -------------------------------------------------------------------------
    def start(self) -> Job:
        """Queue the job; returns self for chaining."""
        self.pool.submit(self)
        return self

    def cancel(self) -> None:
        """Stop the job at its next check (or before it starts)."""
        if self.pool.withdraw(self):
            self.publish(status="cancelled")
        else:
            self.pool.send(self, ("cancel", self.id))

    def abandon(self) -> None:
        """The session went away: cancel unless a poll comes back within the grace period."""
        self._deadline = time.monotonic() + self.limits.session_grace
        self.pool.watch(self)

    def tick(self) -> None:
        """The pool's ticker: cancel a job whose session did not come back."""
        if self._deadline is not None and time.monotonic() > self._deadline and self.alive:
            self._deadline = None
            self.cancel()

    @property
    def alive(self) -> bool:
        return self._state["status"] not in DONE

    def join(self, timeout: float | None = None) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: not self.alive, timeout)

    def publish(self, **state: Any) -> None:
        """Replace parts of the published state (values should not be mutated afterwards)."""
        with self._cond:
            self._state.update(state)
            if self._state["status"] == "queued":
                self._state["position"] = self.pool.position(self)
            self._cond.notify_all()

    def snapshot(self) -> dict[str, Any]:
        """A shallow copy of the published state; a poll also proves the page is alive."""
        self._deadline = None
        with self._cond:
            state = dict(self._state)
        if state["status"] == "queued":
            state["position"] = self.pool.position(self)
        return state
