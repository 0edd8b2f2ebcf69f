"""The worker process: trains one run (or runs one compare job) at a time for the server, and sends
back only what is new. It owns its torch (one thread) and its GIL, so training never competes with
the pages' Python, and a crash here ends only the run it was stepping.

Messages in (from serve/pool.py): ("train", run_id, cfg, target, state, controls), ("job", job_id,
kind, args), and for the task in hand ("pause"|"resume"|"step"|"line"|"stop"|"yield"|"cancel", id),
("lr", id, value), ("pace", id, value). Messages out: ("update", run_id, news) while training,
("parked", run_id, state, news) when it gives its worker back, ("ended", run_id, state, news),
("job", job_id, published) and ("job_end", job_id, status, result, message).
"""

from __future__ import annotations

import logging
import select
import time
import traceback
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from playground.config import ConfigError, RunConfig
from playground.engine import Trainer
from playground.history import COLUMNS, Table, packed
from playground.loop_lines import LineRefused, LineStepper, LineView
from playground.serve.film import GIF_STEPS
from playground.serve.limits import Limits
from playground.serve.trajectory import weights_now
from playground.serve.wire import Cancelled, pack, unpack
from playground.tasks import build
from playground.warmup import configure_torch, warm_up

log = logging.getLogger(__name__)

IMAGE_EVERY = 0.1  # seconds between pictures sent while training
SEND_EVERY = 0.05  # seconds between updates while training (rows are batched in between)


@dataclass
class Controls:
    """What the page has asked of a run: the worker reads these between steps."""

    paused: bool = False
    steps: int = 0  # single steps asked for while paused
    line_steps: int = 0  # single lines asked for while paused (stepping by line)
    line_at: int = 0  # lines already run of the iteration in progress (a new worker replays them)
    lr: float | None = None  # a new learning rate to apply before the next step
    pace: int = 0  # steps per second (0 = flat out)
    stop: bool = False
    give_back: bool = False  # others are waiting: park at the next step

    @property
    def pending(self) -> int:
        """Steps and lines asked for and not yet taken."""
        return self.steps + self.line_steps


@dataclass
class News:
    """What happened since the last message: new history rows, the newest picture, events."""

    rows: Table = field(default_factory=lambda: Table(COLUMNS))  # the new history rows, packed
    image: np.ndarray | None = None
    image_step: int = 0
    gif: list[tuple[int, np.ndarray]] = field(default_factory=list)
    weights: list[tuple[int, np.ndarray]] = field(default_factory=list)  # the landscape's path
    view: dict | None = None
    events: list[tuple[int, str, float]] = field(default_factory=list)
    state: str = "running"
    base_lr: float = 0.0
    status: str = ""
    reason: str = ""
    message: str = ""
    best_step: int | None = None  # the best checkpoint's step (thinned rows may not hold it)
    steps_done: int = 0  # single steps (asked while paused) taken since the last message
    lines_done: int = 0  # single lines taken since the last message
    line_at: int = 0  # lines run of the iteration in progress
    line: LineView | None = None  # the last line run and what it touched
    layers: list[tuple] = field(default_factory=list)  # per-parameter norms (layer_stats.py)


class Training:
    """One run on this worker: step it, obey the controls, report in batches."""

    def __init__(self, conn: Connection, run_id: int, cfg: RunConfig, target: np.ndarray | None,
                 state: bytes | None, controls: Controls, limits: Limits) -> None:
        self.conn, self.run_id, self.limits, self.ctl = conn, run_id, limits, controls
        self.trainer = Trainer(cfg, build(cfg, target))
        if state is not None:
            self.trainer.load_state_dict(unpack(state))
        self.news = News()
        self.rows: list[Any] = []  # the trainer's rows since the last message (packed when sent)
        if state is None:  # a fresh run: its first weights start the trajectory
            self.news.weights.append((0, weights_now(self.trainer.params)))
        self._events_sent = len(self.trainer.events)
        self._last_image = self._last_send = 0.0
        self._due = time.monotonic()
        self._poller = _poller(conn)
        self._stepped = False  # in this turn
        # stepping by line: the iteration in progress, its first lines replayed on this worker
        self.lines = LineStepper(self.trainer, controls.line_at) if controls.line_at else None

    def run(self) -> None:
        """Step until the run ends, is paused, or gives its worker back."""
        while True:
            self._read_controls(block=False)
            if self.ctl.stop:
                self.trainer.stop()
                return self._end()
            if (self.ctl.paused and not self.ctl.pending) or (self.ctl.give_back and self._stepped):
                return self._park()  # (a turn gives at least one step, however short it was)
            if self.ctl.line_steps:
                self._line()
            elif self._wait_for_beat():
                continue  # a control arrived while it waited: look at it first
            else:
                self._step()
            if self.trainer.done:
                return self._end()
            if self._over_limit():
                return self._end()
            if time.monotonic() - self._last_send >= SEND_EVERY:
                self._send("update")

    def _read_controls(self, block: bool, timeout: float = 0.0) -> bool:
        """Apply every control message waiting (or the first to arrive within `timeout`)."""
        got = False
        # Nothing waiting is the usual case, checked every step: ~0.6 us instead of conn.poll's ~5.
        if block or self._poller is None or self._poller.poll(0):
            while self.conn.poll(timeout if block else 0):
                block = False
                apply_control(self.ctl, self.conn.recv())
                got = True
        if self.ctl.lr is not None:
            self.trainer.set_lr(self.ctl.lr)
            self.ctl.lr = None
        return got

    def _wait_for_beat(self) -> bool:
        """At a pace, wait for the next beat (a control wakes it); True if a control arrived."""
        if not self.ctl.pace or self.ctl.steps:
            return False
        now, beat = time.monotonic(), 1.0 / self.ctl.pace
        self._due = max(self._due + beat, now - 0.05)
        if self._due > now and self._read_controls(block=True, timeout=self._due - now):
            self._due -= beat  # the beat was not used (the pace may even have changed meanwhile)
            return True
        return False

    def _step(self) -> None:
        """One optimizer step; its row, and a picture every IMAGE_EVERY seconds."""
        t = self.trainer
        row = self.lines.finish() if self.lines is not None else t.step()  # ends a by-line one
        self.lines = None
        self._stepped = True
        if self.ctl.steps:
            self.ctl.steps -= 1
            self.news.steps_done += 1
        if row is None:
            return
        self.rows.append(row)
        now = time.monotonic()
        gif = row.step in GIF_STEPS
        if gif or now - self._last_image >= IMAGE_EVERY or self.ctl.paused or t.done:
            self._picture(row.step, gif)
            self._last_image = now

    def _line(self) -> None:
        """One line of the loop (loop_lines.py); its last line takes the step and writes its row."""
        self.ctl.line_steps -= 1
        self.news.lines_done += 1
        self._stepped = True
        try:
            self.lines = self.lines or LineStepper(self.trainer)
        except LineRefused as exc:
            self.news.message, self.ctl.line_steps = str(exc), 0
            return
        view = self.lines.run_line()
        self.news.line, self.news.line_at = view, self.lines.at
        if view is not None and view.row is not None:
            self.rows.extend(view.row.data)
            step = view.row.last.step
            self._picture(step, step in GIF_STEPS)
            self._last_image = time.monotonic()

    def _state(self) -> bytes:
        """The run's whole state (as at the start of an iteration run by line, if one is open)."""
        lines = self.lines
        return pack(lines.state_dict() if lines is not None and lines.mid_iteration
                    else self.trainer.state_dict())

    def _picture(self, step: int, gif: bool) -> None:
        image = self.trainer.image()
        self.news.view = self.trainer.view() or None
        if image is not None:
            self.news.image, self.news.image_step = image, step
            if gif:
                self.news.gif.append((step, image))
        if gif:
            self.news.weights.append((step, weights_now(self.trainer.params)))

    def _over_limit(self) -> bool:
        """Per-run limits that keep a shared server healthy."""
        t, limits = self.trainer, self.limits
        what = (f"{limits.max_steps:,} steps" if t.step_count >= limits.max_steps
                else f"{limits.max_seconds:g} seconds" if t.seconds >= limits.max_seconds
                else f"{limits.max_history:,} history rows" if t.step_count >= limits.max_history
                else None)
        if what is None:
            return False
        t.stop()
        self.news.message = f"Stopped at this server's limit of {what} per run."
        return True

    def _send(self, kind: str, state: bytes | None = None) -> None:
        t, news = self.trainer, self.news
        news.events = t.events[self._events_sent:]
        self._events_sent = len(t.events)
        news.state = t.status if t.done else ("paused" if self.ctl.paused else "running")
        news.base_lr, news.status, news.reason = t.base_lr, t.status, t.reason
        news.line_at = self.lines.at if self.lines is not None else 0
        news.best_step = t.rules.best_step
        news.layers = t.layers.drain()
        news.rows = packed(t.columns, self.rows)  # one float array: no Python object per number
        self.conn.send((kind, self.run_id, state, news))
        self.news, self.rows = News(), []
        self._last_send = time.monotonic()

    def _park(self) -> None:
        """Give the worker back: the run's whole state goes to the server until its next turn."""
        if self.news.image is None:
            self._picture(self.trainer.step_count, False)
        self._send("parked", self._state())

    def _end(self) -> None:
        """The run ended: its final picture and state (for downloads and the best checkpoint),
        and after a divergence the autopsy (which tensor blew up first: layer_stats.py)."""
        self._picture(self.trainer.step_count, False)
        if self.trainer.layers.autopsy is not None:
            self.news.view = {**(self.news.view or {}), "autopsy": self.trainer.layers.autopsy}
        self._send("ended", self._state())


def _poller(conn: Connection) -> Any:
    """A select.poll on the pipe, to ask cheaply whether a control is waiting (None where the
    platform has no poll, e.g. Windows: conn.poll is asked instead)."""
    if not hasattr(select, "poll"):
        return None
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN)
    return poller


def apply_control(ctl: Controls, msg: tuple) -> None:
    """One control message from the page (ids were checked by the pool)."""
    kind = msg[0]
    if kind == "pause":
        ctl.paused = True
    elif kind == "resume":
        ctl.paused = False
    elif kind == "step":
        ctl.paused, ctl.steps = True, ctl.steps + 1
    elif kind == "line":
        ctl.paused, ctl.line_steps = True, ctl.line_steps + 1
    elif kind == "stop":
        ctl.stop = True
    elif kind == "yield":
        ctl.give_back = True
    elif kind == "lr":
        ctl.lr = msg[2]
    elif kind == "pace":
        ctl.pace = msg[2]


class JobChannel:
    """What a compare job's work sees in a worker: publish progress, check for a cancel."""

    def __init__(self, conn: Connection, job_id: int, limits: Limits) -> None:
        self.conn, self.job_id, self.limits = conn, job_id, limits
        self.started = time.monotonic()
        self.cancelled = False

    def publish(self, **state: Any) -> None:
        self.conn.send(("job", self.job_id, state))

    def check(self) -> None:
        """Raise Cancelled if the page cancelled it or its time ran out."""
        while self.conn.poll(0):
            if self.conn.recv()[0] in ("cancel", "stop"):
                self.cancelled = True
        if time.monotonic() - self.started > self.limits.max_seconds:
            self.publish(message=f"Stopped at this server's limit of {self.limits.max_seconds:g} "
                                 "seconds per run.")
            self.cancelled = True
        if self.cancelled:
            raise Cancelled


def run_job(conn: Connection, job_id: int, kind: str, args: tuple, limits: Limits) -> None:
    """A compare job to its end; its result (or why it stopped) goes back in one message."""
    from playground.serve import work  # the compare code, loaded by the first job only

    channel = JobChannel(conn, job_id, limits)
    try:
        result = work.JOBS[kind](channel, *args)
        conn.send(("job_end", job_id, "done", result, ""))
    except Cancelled:
        conn.send(("job_end", job_id, "cancelled", None, ""))
    except ConfigError as exc:  # a setting the job cannot use: the page shows why
        conn.send(("job_end", job_id, "error", None, str(exc)))
    except Exception as exc:  # the page shows one sentence; the traceback goes to the log
        log.error("job %s (%s) failed:\n%s", job_id, kind, traceback.format_exc())
        conn.send(("job_end", job_id, "error", None,
                   f"{kind} stopped by an internal error ({type(exc).__name__}); details are in "
                   "the server log."))


def main(conn: Connection, limits: Limits, warm: bool = True) -> None:
    """The worker's loop: one task at a time, for as long as the server lives (when its pipe
    breaks, the server has gone: the worker ends quietly)."""
    configure_torch(1)
    if warm:
        warm_up()
    try:
        conn.send(("ready",))
        while True:
            msg = conn.recv()
            kind = msg[0]
            if kind == "quit":
                return
            if kind == "train":
                train(conn, msg, limits)
            elif kind == "job":
                _, job_id, job_kind, args = msg
                run_job(conn, job_id, job_kind, args, limits)
            # anything else is a control for a task this worker has already given back
    except (EOFError, OSError):
        return


def train(conn: Connection, msg: tuple, limits: Limits) -> None:
    """One run's turn; a failure is reported in one sentence (the traceback goes to the log)."""
    _, run_id, cfg, target, state, controls = msg
    try:
        Training(conn, run_id, cfg, target, state, controls, limits).run()
    except (EOFError, OSError):
        raise  # the server has gone
    except Exception as exc:
        log.error("run %s failed:\n%s", run_id, traceback.format_exc())
        conn.send(("failed", run_id, f"Training stopped by an internal error "
                                     f"({type(exc).__name__}). The details are in the server log."))
