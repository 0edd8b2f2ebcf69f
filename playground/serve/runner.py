"""The training worker: one background thread per run, steered by the page, polled for snapshots.

The page never touches the trainer. It calls `start/pause/resume/step_once/stop/reset/set_lr`,
which only set flags under a lock, and reads `snapshot()`, a copy of what the worker published.
The worker is the only thread that steps the model; it never calls Streamlit.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from playground import export, sprites
from playground.config import RunConfig
from playground.engine import Trainer, build
from playground.history import HistoryRows, Table
from playground.serve.admission import LIMITS, MB, MEMORY, SLOTS, MemoryBudget, Slots, next_id
from playground.serve.film import Filmstrip
from playground.serve.limits import Limits

log = logging.getLogger(__name__)

IMAGE_EVERY = 0.1  # seconds between published images (the page polls a few times a second)
FINISHED = ("completed", "diverged", "early_stopped", "stopped", "error")
GIF_STEPS = sorted({round(1.25 ** k) for k in range(80)})  # ~60 log-spaced frames for the GIF
RELEASED = ("This run's weights were freed to make room for other runs on this server; its curve "
            "and picture stay. Press ▶ Start to train again.")


@dataclass
class Snapshot:
    """A consistent copy of a run's published state: what one page refresh draws."""

    run_id: int
    state: str  # idle, ready, starting, queued, running, paused, or one of FINISHED
    rows: Table  # the history thinned for the chart, read by column name
    n_rows: int
    image: np.ndarray | None
    filmstrip: list[tuple[int, np.ndarray]]
    events: list[tuple[int, str, float]]
    steps_per_second: float
    total_steps: int
    message: str = ""
    queue_position: int = 0
    base_lr: float = 0.0
    config: RunConfig | None = None
    target: np.ndarray | None = None
    view: dict | None = None  # the lesson's extra data: confusion matrix, fitted line

    @property
    def last(self) -> Any | None:
        """The newest history row (a named tuple), if any."""
        return self.rows.last


class Runner:
    """One session's training run in a background thread."""

    def __init__(self, limits: Limits | None = None, slots: Slots | None = None,
                 memory: MemoryBudget | None = None) -> None:
        self.limits = limits or LIMITS
        self.slots = slots or SLOTS
        self.memory = memory or MEMORY
        self.ended_at = 0.0  # when the last run ended (the memory budget frees the oldest first)
        self._held = 0  # tensor bytes the current trainer was admitted with
        self.id = next_id()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._trainer: Trainer | None = None
        self._run_id = 0
        self._state = "idle"
        self._message = ""
        self._rows = HistoryRows()
        self._image: np.ndarray | None = None
        self._view: dict = {}
        self._gif: list[tuple[int, np.ndarray]] = []
        self._target: np.ndarray | None = None
        self._film = Filmstrip()
        self._rate: collections.deque[tuple[float, int]] = collections.deque(maxlen=64)
        self._paused = False
        self._stop = False
        self._step_requests = 0
        self._pending_lr: float | None = None
        self._pace = 0  # steps per second the worker plays the run at (0 = flat out)
        self._due = 0.0  # when the next paced step is due (time.monotonic)
        self._deadline: float | None = None  # set when the session goes away

    # Controls (called from the page's thread) -------------------------------------------------
    def reset(self, cfg: RunConfig, target: np.ndarray | None = None) -> None:
        """Stop any run and build fresh weights from the config's seed, ready to start."""
        self.stop(wait=True)
        trainer = Trainer(cfg, build(cfg, target))
        held = self.memory.admit(self, trainer)  # may raise RunRefused: nothing new is published
        image, view = trainer.image(), trainer.view()
        with self._cond:
            self._run_id += 1
            self._held = held
            self._trainer, self._state, self._message = trainer, "ready", ""
            # one history, shared: the worker's trainer appends, pages read (one writer; a row
            # becomes visible only once written, see HistoryRows.append)
            self._rows, self._image, self._view = trainer.rows, image, view
            self._target = (sprites.from_tensor(trainer.b.target) if trainer.b.target is not None
                            else None)
            self._film = Filmstrip(self._target)
            if image is not None:
                self._film.offer(0, image)
            self._gif = list(self._film.frames)
            self._rate.clear()

    def start(self, cfg: RunConfig, target: np.ndarray | None = None,
              paused: bool = False) -> bool:
        """Start training in the background; False (and nothing new) if a worker is running."""
        with self._cond:
            if self.alive:
                return False
            reuse = (self._state == "ready" and self._trainer and self._trainer.cfg == cfg
                     and not self._trainer.released)
        if not reuse:
            self.reset(cfg, target)
        with self._cond:
            self._paused, self._stop, self._step_requests = paused, False, 0
            self._pace, self._due = cfg.pace, time.monotonic()
            self._deadline = None
            self._state = "paused" if paused else "starting"
            trainer, run_id = self._trainer, self._run_id
            self._thread = threading.Thread(target=self._work, args=(trainer, run_id),
                                            name=f"playground-run-{self.id}", daemon=True)
            self._thread.start()
        return True

    def pause(self) -> None:
        """Hold the run after the current step (its slot goes to the next in the queue)."""
        with self._cond:
            self._paused = True
            self._cond.notify_all()

    def resume(self) -> None:
        """Carry on after a pause."""
        with self._cond:
            self._paused = False
            self._cond.notify_all()

    def step_once(self, cfg: RunConfig | None = None, target: np.ndarray | None = None) -> None:
        """One optimizer step while paused (starting a paused run first if none is alive)."""
        if not self.alive and cfg is not None and self._state not in FINISHED:
            self.start(cfg, target, paused=True)
        with self._cond:
            if self.alive:
                self._paused = True
                self._step_requests += 1
                self._cond.notify_all()

    def stop(self, wait: bool = False, timeout: float = 10.0) -> None:
        """End the run after the current step; optionally wait for the thread to finish."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
            thread = self._thread
        if wait and thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def set_pace(self, pace: int) -> None:
        """Play the run at `pace` steps per second from now on (0 = as fast as it goes)."""
        with self._cond:
            self._pace = max(0, int(pace))
            self._cond.notify_all()

    @property
    def pace(self) -> int:
        return self._pace

    def _pace_wait(self, holding: bool) -> bool:
        """Sleep until the next step is due at the run's pace (a Pause, Stop, Step or new pace
        wakes it at once). Steps are due on a fixed beat, so their own time does not slow the pace;
        a beat missed by more than 0.05 s is not made up in a burst. While others queue it lends its
        slot out; True if it did."""
        with self._cond:
            if not self._pace:
                return False
            now = time.monotonic()
            self._due = max(self._due + 1.0 / self._pace, now - 0.05)
            lend = holding and self.slots.waiting > 0 and self._due - now > 0.002
        if lend:
            self.slots.release(self.id)
        with self._cond:
            while (self._pace and time.monotonic() < self._due
                   and not (self._stop or self._paused or self._step_requests)):
                self._cond.wait(self._due - time.monotonic())
        return lend

    def set_lr(self, lr: float) -> None:
        """Change the learning rate from the next step on (no reset)."""
        with self._cond:
            if self.alive:
                self._pending_lr = lr
                self._cond.notify_all()
                return
            trainer = self._trainer
        if trainer is not None and not trainer.done:
            trainer.set_lr(lr)

    def abandon(self) -> None:
        """The session went away: stop unless a poll (a reconnect) proves it alive in time."""
        with self._cond:
            self._deadline = time.monotonic() + self.limits.session_grace
            self._cond.notify_all()

    def keepalive(self) -> None:
        """A page is still watching: clear any pending abandonment."""
        with self._cond:
            self._deadline = None

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the worker to finish; True if no worker is left."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return not self.alive

    @property
    def pause_requested(self) -> bool:
        """Whether the user asked to pause (the worker reports 'paused' after its current step)."""
        return self._paused

    @property
    def alive(self) -> bool:
        """Whether a worker thread is running (paused counts)."""
        return self._thread is not None and self._thread.is_alive()

    # The page's view --------------------------------------------------------------------------
    def snapshot(self, max_points: int = 2000) -> Snapshot:
        """A copy of the published state with the history thinned to at most `max_points` rows."""
        with self._cond:
            self._deadline = None  # a poll proves the page is alive
            rows = self._rows.thin(max_points)
            trainer = self._trainer
            return Snapshot(
                run_id=self._run_id, state=self._state, rows=rows, n_rows=len(self._rows),
                image=self._image, filmstrip=list(self._film.frames),
                events=list(trainer.events) if trainer else [],
                steps_per_second=self._steps_per_second(),
                total_steps=trainer.cfg.total_steps if trainer else 0,
                message=self._message, queue_position=self.slots.position(self.id),
                base_lr=trainer.base_lr if trainer else 0.0,
                config=trainer.cfg if trainer else None, target=self._target, view=self._view)

    def frames(self) -> list[tuple[int, np.ndarray]]:
        """The sprite at ~60 log-spaced moments, for the animated GIF download."""
        with self._cond:
            return list(self._gif)

    def checkpoint(self) -> bytes | None:
        """The weights as a safe checkpoint; None while a worker may be stepping (they'd tear)."""
        with self._cond:
            trainer = None if self.alive else self._trainer
        if trainer is None or trainer.released:
            return None
        return export.checkpoint_bytes(trainer)

    def restore_best(self) -> bool:
        """Load the best checkpoint into a finished run's model and show it (False if none)."""
        with self._cond:
            trainer = None if self.alive else self._trainer
            if trainer is not None and trainer.released:
                self._message = RELEASED
        if trainer is None or not trainer.restore_best():
            return False
        image, view = trainer.image(), trainer.view()
        with self._cond:
            self._view = view
            if image is not None:
                self._image = image
            where = f" of epoch {trainer.best_epoch}" if trainer.best_epoch else ""
            self._message = f"Restored the best checkpoint{where} (lowest loss {trainer.best_loss:.4g})."
        return True

    def held_bytes(self) -> int:
        """Tensor memory this session's run was admitted with (0 once its weights are freed)."""
        trainer = self._trainer
        return self._held if trainer is not None and not trainer.released else 0

    def releasable(self) -> bool:
        """An ended (or never started) run whose weights could be freed for someone else's."""
        trainer = self._trainer
        return (not self.alive and trainer is not None and not trainer.released
                and self._state in (*FINISHED, "ready"))

    def release_weights(self) -> int:
        """Free this run's weights, optimizer and data (curve and picture stay); bytes freed."""
        with self._cond:
            trainer = self._trainer
            if self.alive or trainer is None:
                return 0
            freed = self.held_bytes()
            trainer.release()
        log.info("run %s: freed %.1f MB of weights for another run", self.id, freed / MB)
        return freed

    def rows_since(self, cursor: int) -> Table:
        """Every history row from `cursor` on (for downloads and incremental readers)."""
        with self._cond:
            return self._rows.since(cursor)

    def _steps_per_second(self) -> float:
        if len(self._rate) < 2:
            return 0.0
        (t0, s0), (t1, s1) = self._rate[0], self._rate[-1]
        return (s1 - s0) / (t1 - t0) if t1 > t0 else 0.0

    # The worker thread --------------------------------------------------------------------------
    def _work(self, trainer: Trainer, run_id: int) -> None:
        """Step until done, stopped, paused-and-abandoned, or over budget; publish as it goes."""
        holding = False
        try:
            while True:
                command = self._wait_for_work(holding)
                if command == "stop":
                    break
                if command == "release":
                    self.slots.release(self.id)
                    holding = False
                    continue
                if not holding:
                    holding = self._queue_for_slot(one=command == "one")
                    if not holding:
                        continue
                    turn_ends = time.monotonic() + self.limits.turn_seconds
                    if command == "step" and self._paused:
                        continue  # paused while it waited for the slot: step only if asked to
                self._step(trainer)
                if trainer.done or self._over_budget(trainer):
                    break
                if self._pace_wait(holding):
                    holding = False  # it slept without its slot: others stepped meanwhile
                    continue
                if time.monotonic() > turn_ends and self.slots.waiting:
                    with self._cond:
                        self._state = "queued"
                    self.slots.release(self.id)  # make way: back of the queue, the next one steps
                    holding = False
        except Exception as exc:  # shown to the user as a message; the traceback goes to the log
            log.exception("training run %s failed", self.id)
            with self._cond:
                self._message = (f"Training stopped by an internal error ({type(exc).__name__}). "
                                 "The details are in the server log.")
                self._state = "error"
        finally:
            self.slots.release(self.id)
            self._finish(trainer, run_id)
            log.info("run %s ended: %s after %s steps", self.id, trainer.status, trainer.step_count)

    def _wait_for_work(self, holding: bool) -> str:
        """Block while paused; returns 'step', 'one' (a Step while paused), 'stop' or 'release'
        (free the slot while paused)."""
        with self._cond:
            while True:
                if self._stop or self._expired():
                    return "stop"
                if self._pending_lr is not None and self._trainer is not None:
                    self._trainer.set_lr(self._pending_lr)
                    self._pending_lr = None
                if not self._paused:
                    return "step"
                if self._step_requests:
                    self._step_requests -= 1
                    return "one"
                if holding:
                    return "release"
                self._state = "paused"
                self._cond.wait(0.5)

    def _expired(self) -> bool:
        """The session went away and no page came back within the grace period."""
        if self._deadline is not None and time.monotonic() > self._deadline:
            self._message = "The run stopped because its browser tab was closed."
            log.info("run %s stopped: its session ended", self.id)
            return True
        return False

    def _queue_for_slot(self, one: bool = False) -> bool:
        """Wait for a training slot, showing 'queued' meanwhile; False if told to stop, or to pause
        unless the slot is for one requested Step."""
        wait = 0.0  # first a look: a run without a slot shows "queued" at once
        while True:
            if self.slots.acquire(self.id, timeout=wait):
                with self._cond:
                    self._state = "paused" if self._paused else "running"
                return True
            wait = 0.2
            with self._cond:
                self._state = "queued"
                paused = self._paused and not one and not self._step_requests
                if self._stop or self._expired() or paused:
                    self.slots.release(self.id)
                    return False

    def _step(self, trainer: Trainer) -> None:
        """One optimizer step, then publish its row (and an image every IMAGE_EVERY seconds)."""
        row = trainer.step()
        now = time.monotonic()
        image = view = None
        if row is not None and (row.step in GIF_SET or now - self._last_image() >= IMAGE_EVERY
                                or self._paused or trainer.done):
            image, view = trainer.image(), trainer.view()
            self._image_time = now
        with self._cond:
            self._state = "paused" if self._paused else "running"
            if row is not None:
                self._rate.append((now, row.step))
            if view is not None:
                self._view = view
            if image is not None:
                self._image = image
                self._film.offer(row.step, image)
                if row.step in GIF_SET:
                    self._gif.append((row.step, image))

    def _last_image(self) -> float:
        return getattr(self, "_image_time", 0.0)

    def _over_budget(self, trainer: Trainer) -> bool:
        """Per-run limits that keep a shared server healthy."""
        limits = self.limits
        what = None
        if trainer.step_count >= limits.max_steps:
            what = f"{limits.max_steps:,} steps"
        elif trainer.seconds >= limits.max_seconds:
            what = f"{limits.max_seconds:g} seconds"
        elif trainer.step_count >= limits.max_history:
            what = f"{limits.max_history:,} history rows"
        if what is None:
            return False
        trainer.stop()
        with self._cond:
            self._message = f"Stopped at this server's limit of {what} per run."
        return True

    def _finish(self, trainer: Trainer, run_id: int) -> None:
        """Publish the final state: the last good image, the status and its explanation."""
        if not trainer.done:
            trainer.stop()
        image = view = None
        if trainer.status != "diverged" or trainer.best_params is not None:
            try:  # after divergence the best (last good) weights have been restored
                image, view = trainer.image(), trainer.view()
            except Exception:
                log.exception("could not render the final image of run %s", self.id)
        with self._cond:
            self.ended_at = time.monotonic()
            if run_id != self._run_id:
                return
            if self._state != "error":
                self._state = trainer.status
            if trainer.reason and not self._message:
                self._message = trainer.reason
            if view:
                self._view = view
            if image is not None:
                self._image = image
                self._film.finish(trainer.step_count, image)
                if not self._gif or self._gif[-1][0] != trainer.step_count:
                    self._gif.append((trainer.step_count, image))


GIF_SET = set(GIF_STEPS[1:])
