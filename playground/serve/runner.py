"""A session's run, trained in the worker processes of the pool (serve/pool.py), steered by the
page and polled for snapshots.

The page never touches a trainer. It calls `start/pause/resume/step_once/stop/reset/set_lr/set_pace`,
which set controls under a lock and pass them to the worker holding the run, and reads
`snapshot()`, a copy of what the workers sent back: only what is new each time (rows, the newest
picture, events), appended here to the run's history. Nothing here calls Streamlit.

Between turns, while paused, and after it ends, a run's whole state lives here as bytes (see
engine.Trainer.state_dict): the next worker carries it on exactly, and downloads and the best
checkpoint are made from it.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace

import numpy as np

from playground import sprites
from playground.config import RunConfig
from playground.engine import Trainer, build
from playground.history import HistoryRows, Table
from playground.loop_lines import LineView
from playground.serve.admission import LIMITS, MB, MEMORY, MemoryBudget, next_id
from playground.serve.ended_run import EndedRun
from playground.serve.film import Filmstrip
from playground.serve.limits import Limits
from playground.serve.pool import Pool, shared_pool
from playground.serve.rate import Rate
from playground.serve.run_task import RunTask
from playground.serve.snapshot import FINISHED, Snapshot
from playground.serve.trajectory import Trajectory
from playground.serve.worker import Controls, News

log = logging.getLogger(__name__)

class Runner(EndedRun):
    """One session's training run, trained by the pool's workers."""

    def __init__(self, limits: Limits | None = None, pool: Pool | None = None,
                 memory: MemoryBudget | None = None) -> None:
        self.limits = limits or LIMITS
        self.pool = pool or shared_pool()
        self.memory = memory or MEMORY
        self.id = next_id()
        self.ended_at = 0.0  # when the last run ended (the memory budget frees the oldest first)
        self._cond = threading.Condition()
        self._task: RunTask | None = None
        self._run_id = 0
        self._cfg: RunConfig | None = None
        self._target_in: np.ndarray | None = None
        self._state = "idle"
        self._message = ""
        self._rows = HistoryRows()
        self._image: np.ndarray | None = None
        self._view: dict = {}
        self._line: LineView | None = None  # what the last line run by line touched
        self._layers = HistoryRows(("step",))  # per-parameter norms (layer_stats.py), every 10th step
        self._gif: list[tuple[int, np.ndarray]] = []
        self._target: np.ndarray | None = None
        self._film = Filmstrip()
        self._events: list[tuple[int, str, float]] = []
        self._rate = Rate()
        self.trajectory = Trajectory(self.limits.max_path_mb)  # weights along the run
        self._ctl = Controls()
        self._saved: bytes | None = None  # the run's whole state while it holds no worker
        self._local: Trainer | None = None  # built here only while not running (first picture,
        #                                     downloads, the best checkpoint)
        self._held = 0
        self._released = False
        self._base_lr = 0.0
        self._lr_asked: float | None = None  # set by the page, not yet confirmed by the worker
        self._best_step: int | None = None  # the best checkpoint's step: the charts' ★ best
        self._deadline: float | None = None  # set when the session goes away
        self.pool.watch(self)

    # Controls (called from the page's thread) -------------------------------------------------
    def reset(self, cfg: RunConfig, target: np.ndarray | None = None) -> None:
        """Stop any run and build fresh weights from the config's seed, ready to start."""
        self.stop(wait=True)
        trainer = Trainer(cfg, build(cfg, target))
        held = self.memory.admit(self, trainer)  # may raise RunRefused: nothing new is published
        image, view = trainer.image(), trainer.view()
        with self._cond:
            self._run_id += 1
            self._task = RunTask(self)
            self._cfg, self._target_in, self._local, self._saved = cfg, target, trainer, None
            self._held, self._released = held, False
            self._state, self._message = "ready", ""
            self._rows, self._layers = HistoryRows(trainer.columns), HistoryRows(trainer.layers.columns)
            self._image, self._view, self._events, self._line = image, view, [], None
            self._target = (sprites.from_tensor(trainer.b.target) if trainer.b.target is not None
                            else None)
            self._film = Filmstrip(self._target)
            if image is not None:
                self._film.offer(0, image)
            self._gif = list(self._film.frames)
            self._rate.clear()
            self.trajectory = Trajectory(self.limits.max_path_mb)
            self._ctl = Controls(pace=cfg.pace)
            self._base_lr, self._best_step, self._lr_asked = cfg.lr, None, None

    def start(self, cfg: RunConfig, target: np.ndarray | None = None,
              paused: bool = False) -> bool:
        """Start training in the background; False (and nothing new) if a run is going."""
        with self._cond:
            if self.alive:
                return False
            reuse = (self._state == "ready" and self._cfg == cfg and not self._released)
        if not reuse:
            self.reset(cfg, target)
        with self._cond:
            self._ctl = Controls(paused=paused, pace=cfg.pace)
            self._deadline = None
            self._state = "paused" if paused else "queued"
            self._local = None  # the workers train it from here on
        if not paused:
            self.pool.submit(self._task)
        return True

    def first_step(self, timeout: float) -> bool:
        """Wait (at most `timeout` s) for a just-started run's first row, so Start's own rerun
        draws it, not the next poll; a run queued behind others (a class) does not wait."""
        if self.pool.position(self._task) > 1:
            return False
        deadline = time.monotonic() + timeout
        with self._cond:
            while not len(self._rows) and self._state in ("queued", "running"):
                if not self._cond.wait(deadline - time.monotonic()):
                    break
            return bool(len(self._rows))

    def pause(self) -> None:
        """Hold the run after the current step; it gives its worker back while paused."""
        with self._cond:
            self._ctl.paused = True
            task = self._task
        if task is not None and not self.pool.send(task, ("pause", task.id)) and self.pool.withdraw(task):
            with self._cond:
                self._state = "paused"
                self._cond.notify_all()

    def resume(self) -> None:
        """Carry on after a pause."""
        with self._cond:
            self._ctl.paused = False
            task = self._task if self._state == "paused" else None
            if task is not None:
                self._state = "queued"
        if task is not None and not self.pool.send(task, ("resume", task.id)):
            self.pool.submit(task)

    def step_once(self, cfg: RunConfig | None = None, target: np.ndarray | None = None,
                  by_line: bool = False) -> None:
        """One optimizer step while paused (starting a paused run first if none is going), or
        with `by_line` one line of it (zero_grad, forward, loss, backward, step: loop_lines.py)."""
        if not self.alive and cfg is not None and self._state not in FINISHED:
            self.start(cfg, target, paused=True)
        with self._cond:
            if not self.alive:
                return
            self._ctl.paused = True
            self._ctl.line_steps += by_line
            self._ctl.steps += not by_line
            task = self._task
            if self._state == "paused":
                self._state = "queued"
        if not self.pool.send(task, ("line" if by_line else "step", task.id)):
            self.pool.submit(task)

    def stop(self, wait: bool = False, timeout: float = 10.0) -> None:
        """End the run after the current step; optionally wait until it has ended."""
        with self._cond:
            if not self.alive:
                return
            self._ctl.stop = True
            task = self._task
        if self.pool.send(task, ("stop", task.id)):
            if wait:
                with self._cond:
                    self._cond.wait_for(lambda: not self.alive, timeout)
            return
        self.pool.withdraw(task)
        self._end_here("stopped")

    def set_lr(self, lr: float) -> None:
        """Change the learning rate from the next step on (no reset)."""
        with self._cond:
            if self._state in FINISHED or lr == self._base_lr:
                return
            self._ctl.lr, self._base_lr, self._lr_asked, task = lr, lr, lr, self._task
            if self._local is not None:  # ready, not started: the worker will be told at start
                self._local.set_lr(lr)
                self._ctl.lr = None
        if task is not None:
            self.pool.send(task, ("lr", task.id, lr))

    def set_pace(self, pace: int) -> None:
        """Play the run at `pace` steps per second from now on (0 = as fast as it goes)."""
        with self._cond:
            self._ctl.pace = max(0, int(pace))
            task = self._task
        if task is not None:
            self.pool.send(task, ("pace", task.id, self._ctl.pace))

    @property
    def pace(self) -> int:
        return self._ctl.pace

    def abandon(self) -> None:
        """The session went away: stop unless a poll (a reconnect) proves it alive in time."""
        with self._cond:
            self._deadline = time.monotonic() + self.limits.session_grace

    def keepalive(self) -> None:
        """A page is still watching: clear any pending abandonment."""
        with self._cond:
            self._deadline = None

    def tick(self) -> None:
        """The pool's ticker: stop a run whose session went away and did not come back."""
        with self._cond:
            expired = self._deadline is not None and time.monotonic() > self._deadline
            if expired:
                self._deadline = None
                if self.alive:
                    self._message = "The run stopped because its browser tab was closed."
        if expired and self.alive:
            log.info("run %s stopped: its session ended", self.id)
            self.stop()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the run to end; True if it has."""
        with self._cond:
            return self._cond.wait_for(lambda: not self.alive, timeout)

    @property
    def pause_requested(self) -> bool:
        """Whether the user asked to pause (the run reports 'paused' after its current step)."""
        return self._ctl.paused

    @property
    def alive(self) -> bool:
        """Whether a run is going (queued, stepping, or paused)."""
        return self._state in ("queued", "running", "paused")

    # The pool's side ---------------------------------------------------------------------------
    def assignment(self, task: RunTask) -> tuple:
        """What a worker needs to take the run on: its config, target, state and controls."""
        with self._cond:
            self._state = "paused" if self._ctl.paused and not self._ctl.pending else "running"
            ctl = replace(self._ctl)
            self._ctl.lr = None  # the worker applies it once
            return ("train", task.id, self._cfg, self._target_in, self._saved, ctl)

    def received(self, task: RunTask, msg: tuple) -> bool:
        """A message from the worker holding this run; True once the run has left the worker."""
        kind = msg[0]
        if kind == "failed":
            self._end_here("error", msg[2])
            return True
        _, _, state, news = msg
        with self._cond:
            if task is not self._task:
                return kind != "update"
            self._apply(news)
            if kind == "update":
                self._cond.notify_all()  # wakes first_step (nobody else waits on updates)
                return False
            self._saved = state
            # parked: a Step asked too late for this turn waits for the next; a Stop sent while
            # the worker was parking (it never read it) ends the run here
            if kind == "parked" and not self._ctl.stop:
                self._state = ("paused" if self._ctl.paused and not self._ctl.pending else "queued")
            else:
                self._state = news.status if news.status in FINISHED else "stopped"
                self._message = self._message or news.message or news.reason
                self.ended_at = time.monotonic()
                self._finish_film()
            self._cond.notify_all()
        if kind == "ended":
            log.info("run %s ended: %s after %s steps", self.id, self._state, len(self._rows))
        return True

    def _apply(self, news: News) -> None:
        """Append what the worker sent (under the lock)."""
        now = time.monotonic()
        self._ctl.steps = max(0, self._ctl.steps - news.steps_done)  # Steps asked and taken, first:
        self._ctl.line_steps = max(0, self._ctl.line_steps - news.lines_done)
        self._ctl.line_at = news.line_at  # lines run of the iteration in progress (0: none)
        self._line = news.line or (None if len(news.rows) else self._line)  # a plain step clears it
        self._rows.extend(news.rows.data)  # a paused run's single step must not read as "running"
        self._layers.extend(news.layers)
        if len(news.rows):
            self._rate.add(now, int(news.rows["step"][-1]))
            self._state = "paused" if self._ctl.paused and not self._ctl.pending else "running"
        if news.image is not None:
            self._image = news.image
            self._film.offer(news.image_step, news.image)
        self._gif.extend(news.gif)
        self.trajectory.extend(news.weights)
        if news.view:
            self._view = news.view
        self._events.extend(news.events)
        if self._lr_asked is None or news.base_lr == self._lr_asked:  # an update sent before the
            self._base_lr, self._lr_asked = news.base_lr, None  # worker read a new rate is stale
        self._best_step = news.best_step
        if news.message:
            self._message = news.message

    def waits_for_turn(self, task: RunTask) -> bool:
        """Whether a run that just parked wants a worker again (it made way, it is not paused)."""
        with self._cond:
            return task is self._task and self._state == "queued"

    def crashed(self, task: RunTask, sentence: str) -> None:
        """Its worker died: the run ends here with one sentence."""
        if task is self._task:
            self._end_here("error", sentence)

    def _end_here(self, state: str, message: str = "") -> None:
        """End the run without a worker (stopped while waiting, or its worker died)."""
        with self._cond:
            if not self.alive:
                return
            self._state = state
            if message:
                self._message = message
            self.ended_at = time.monotonic()
            self._finish_film()
            self._cond.notify_all()

    def _finish_film(self) -> None:
        """The run's last picture ends the filmstrip, whether or not it moved visibly since the
        last kept frame (under the lock)."""
        if self._image is not None and self._rows:
            self._film.finish(int(self._rows.since(len(self._rows) - 1)["step"][0]), self._image)

    # The page's view --------------------------------------------------------------------------
    def snapshot(self, max_points: int = 2000) -> Snapshot:
        """A copy of the published state with the history thinned to at most `max_points` rows."""
        task = self._task
        position = self.pool.position(task) if task is not None else 0  # not under our lock
        with self._cond:
            self._deadline = None  # a poll proves the page is alive
            cfg = self._cfg
            return Snapshot(
                run_id=self._run_id, state=self._state, rows=self._rows.thin(max_points),
                n_rows=len(self._rows), image=self._image, filmstrip=list(self._film.frames),
                events=list(self._events), steps_per_second=self._rate.per_second(),
                total_steps=cfg.total_steps if cfg else 0, message=self._message,
                queue_position=position,
                base_lr=self._base_lr, config=cfg, target=self._target, view=self._view,
                line=self._line, layers=self._layers.thin(max_points), best_step=self._best_step)

    def frames(self) -> list[tuple[int, np.ndarray]]:
        """The sprite at ~60 log-spaced moments, for the animated GIF download."""
        with self._cond:
            return list(self._gif)

    def rows_since(self, cursor: int) -> Table:
        """Every history row from `cursor` on (for downloads and incremental readers)."""
        with self._cond:
            return self._rows.since(cursor)

    def landscape_parts(self) -> tuple | None:
        """Config, target, state and trajectory of an ended run, or a paused one no worker holds."""
        held = self._task is not None and self.pool.holder(self._task) is not None  # (unlocked)
        with self._cond:  # (an ended run's state is final even while its worker lets go of it)
            moving = self._state in ("queued", "running") or (self._state == "paused" and held)
            if self._saved is None or moving or self._released:
                return None
            return self._cfg, self._target_in, self._saved, list(self.trajectory.points)

    # The memory budget's side ------------------------------------------------------------------
    def held_bytes(self) -> int:
        """Tensor memory this session's run was admitted with (0 once its weights are freed)."""
        return 0 if self._released or self._cfg is None else self._held

    def releasable(self) -> bool:
        """An ended (or never started) run whose weights could be freed for someone else's."""
        return (not self.alive and self._cfg is not None and not self._released
                and self._state in (*FINISHED, "ready"))

    def release_weights(self) -> int:
        """Free this run's weights and state (curve and picture stay); bytes freed."""
        with self._cond:
            if self.alive or self._cfg is None:
                return 0
            freed = self.held_bytes()
            self._released, self._local, self._saved = True, None, None
            self.trajectory = Trajectory(self.limits.max_path_mb)
            if self._state == "ready":
                self._state = "stopped"
        log.info("run %s: freed %.1f MB of weights for another run", self.id, freed / MB)
        return freed
