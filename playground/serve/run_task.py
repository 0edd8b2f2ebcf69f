"""One run as the pool queues it (serve/pool.py): the Runner's side of a worker's messages."""

from __future__ import annotations

from typing import TYPE_CHECKING

from playground.serve.admission import next_id

if TYPE_CHECKING:
    from playground.serve.runner import Runner


class RunTask:
    """One run as the pool queues it: a fresh id per run, so a late message from an older run of
    the same session is never mistaken for this one's."""

    def __init__(self, runner: Runner) -> None:
        self.runner, self.id = runner, next_id()

    def first_message(self) -> tuple:
        return self.runner.assignment(self)

    def on_message(self, msg: tuple) -> bool:
        return self.runner.received(self, msg)

    def on_crash(self, sentence: str) -> None:
        self.runner.crashed(self, sentence)

    def wants_turns(self) -> bool:
        return True

    def requeue(self) -> bool:
        return self.runner.waits_for_turn(self)
