"""The pool of worker processes that trains for every session of the server.

Tasks (a session's run, a compare job) wait in one queue in arrival order and take the first free
worker. A run that has stepped `turn_seconds` while others wait is asked to give its worker back: it
parks (its whole state comes back here, see engine.Trainer.state_dict) and joins the back of the
queue; turns shorten as the queue grows, and a run's first turn is short (FIRST_TURN), so a class
that presses Start together all get their first steps within seconds. A paused
run parks at once, so paused tabs hold no worker. A worker that dies (a crash inside torch, a
SIGKILL, out of memory) ends only the task it held, with one sentence on that page, and a fresh
worker takes its place.

Workers are started with forkserver (spawn where there is none): never fork a process whose torch
threads may already run. Each has one torch thread and is warmed up before it takes work.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import logging
import multiprocessing as mp
import os
import sys
import threading
import time
import types
import weakref
from collections.abc import Iterator
from typing import Any, Protocol

from playground.serve.admission import LIMITS
from playground.serve.limits import Limits

log = logging.getLogger(__name__)
_EXITING = threading.Event()  # the process is ending: its workers going away is no crash
atexit.register(_EXITING.set)  # runs before multiprocessing's own exit handler stops the workers

CRASHED = "This run's worker stopped unexpectedly; press Start to run it again."
TICK = 0.05  # seconds between looks at turns and abandoned sessions
MIN_TURN = 0.25  # seconds: the shortest turn, however long the queue
CYCLE = 5.0  # seconds: with turns this long, the whole queue gets a turn within this
FIRST_TURN = 0.05  # seconds: a run's first turn while others wait (enough for its first steps)


class Task(Protocol):
    """A run or a job as the pool sees it."""

    id: int

    def first_message(self) -> tuple: ...

    def on_message(self, msg: tuple) -> bool: ...  # True once the task has left its worker

    def on_crash(self, sentence: str) -> None: ...

    def wants_turns(self) -> bool: ...

    def requeue(self) -> bool: ...  # asked once it has left its worker: wait for another turn?


class Worker:
    """One worker process, its pipe, and the task it holds."""

    def __init__(self, pool: Pool, index: int) -> None:
        self.pool, self.index = pool, index
        self.send_lock = threading.Lock()
        self.task: Task | None = None
        self.since = 0.0  # when it took its task
        self.asked_back = False
        self.first_turn = False  # its task had never stepped before this turn
        self.dead = False  # set once its process is gone: no task is given to it again
        self.ready = threading.Event()
        parent, child = pool.ctx.Pipe()
        self.conn = parent
        self.process = pool.ctx.Process(target=_worker_main, args=(child, pool.limits, pool.warm),
                                        name=f"playground-worker-{index}", daemon=True)
        with _bare_main():
            self.process.start()
        child.close()
        self.reader = threading.Thread(target=self._read, name=f"playground-pool-reader-{index}",
                                       daemon=True)
        self.reader.start()

    def send(self, msg: tuple) -> bool:
        """Send to the process; False if it is gone."""
        with self.send_lock:
            try:
                self.conn.send(msg)
                return True
            except (OSError, ValueError, BrokenPipeError):
                return False

    def _read(self) -> None:
        """Hand every message to the task it belongs to, until the process goes away."""
        while True:
            try:
                msg = self.conn.recv()
            except (EOFError, OSError):
                self.pool.worker_died(self)
                return
            if msg[0] == "ready":
                self.ready.set()
                self.pool.dispatch()
                continue
            task = self.task
            if task is not None and msg[1] == task.id and task.on_message(msg):
                self.pool.task_left(self, task)

    @property
    def pid(self) -> int | None:
        return self.process.pid


_MAIN_LOCK = threading.Lock()


@contextlib.contextmanager
def _bare_main() -> Iterator[None]:
    """Start processes as if `__main__` were empty. A new process (and the forkserver) re-imports
    the parent's main script; inside `streamlit run` that is app.py itself (Streamlit runs the page
    as `__main__`), which must never run in a worker. The workers need only playground.serve."""
    with _MAIN_LOCK:
        main = sys.modules.get("__main__")
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            yield
        finally:
            if main is not None:
                sys.modules["__main__"] = main


def _worker_main(conn: Any, limits: Limits, warm: bool) -> None:
    """The worker process's entry point (imported by name in the child)."""
    from playground.serve.worker import main

    main(conn, limits, warm)


def _context() -> mp.context.BaseContext:
    """forkserver where the platform has it, with the heavy imports done once in its server."""
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["playground.serve.worker"])
        return ctx
    return mp.get_context("spawn")


def default_size(limits: Limits) -> int:
    """PLAYGROUND_WORKERS, or (0) the CPUs this process may use; at least one."""
    if limits.workers > 0:
        return limits.workers
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, cpus or 1)


class Pool:
    """Worker processes, one queue, turns, and replacements for workers that die.

    Lock order: a task's own lock may be held while calling the pool, never the other way round
    (the pool calls into tasks only after releasing its lock)."""

    def __init__(self, size: int | None = None, limits: Limits | None = None,
                 warm: bool = True) -> None:
        self.limits = limits or Limits.from_env()
        self.warm = warm
        self.ctx = _context()
        self._lock = threading.RLock()
        self._queue: collections.deque[Task] = collections.deque()
        self._closed = False
        self._failures = 0  # workers that died before they were ready, in a row
        self._watched: weakref.WeakSet[Any] = weakref.WeakSet()  # their tick() runs every TICK
        self._served: weakref.WeakSet[Task] = weakref.WeakSet()  # tasks that have had a turn
        self.workers: list[Worker] = []
        for i in range(size or default_size(self.limits)):
            self.workers.append(Worker(self, i))
        self._ticker = threading.Thread(target=self._tick, name="playground-pool-ticker",
                                        daemon=True)
        self._ticker.start()

    # The queue -----------------------------------------------------------------------------
    def submit(self, task: Task) -> None:
        """Queue a task (at the back) and start it if a worker is free."""
        with self._lock:
            if task not in self._queue and not self.holder(task):
                self._queue.append(task)
        self.dispatch()

    def withdraw(self, task: Task) -> bool:
        """Take a waiting task out of the queue; False if it was not waiting."""
        with self._lock:
            if task in self._queue:
                self._queue.remove(task)
                return True
            return False

    def position(self, task: Task) -> int:
        """1-based place in the queue, 0 if not waiting."""
        with self._lock:
            return self._queue.index(task) + 1 if task in self._queue else 0

    @property
    def waiting(self) -> int:
        with self._lock:
            return len(self._queue)

    @property
    def busy(self) -> int:
        with self._lock:
            return sum(w.task is not None for w in self.workers)

    def holder(self, task: Task) -> Worker | None:
        """The worker holding this task, if any."""
        with self._lock:
            return next((w for w in self.workers if w.task is task), None)

    def dispatch(self) -> None:
        """Give waiting tasks to free, ready workers, oldest first."""
        starts = []
        with self._lock:
            for worker in self.workers:
                if not self._queue:
                    break
                if worker.task is None and worker.ready.is_set():
                    task = self._queue.popleft()
                    worker.task, worker.since, worker.asked_back = task, time.monotonic(), False
                    worker.first_turn = task not in self._served
                    self._served.add(task)
                    starts.append((worker, task))
        for worker, task in starts:
            if not worker.send(task.first_message()):
                self.worker_died(worker)

    def send(self, task: Task, msg: tuple) -> bool:
        """A control message to the worker holding `task`; False if none holds it."""
        worker = self.holder(task)
        return worker is not None and worker.send(msg)

    def task_left(self, worker: Worker, task: Task) -> None:
        """The task parked or ended: the worker is free for the next one, and a run that only
        made way goes to the back of the queue."""
        again = task.requeue()  # asked before taking the pool's lock: the task takes its own
        with self._lock:
            if worker.task is task:
                worker.task = None
            if again and task not in self._queue:
                self._queue.append(task)
        self.dispatch()

    # Faults --------------------------------------------------------------------------------
    def worker_died(self, worker: Worker) -> None:
        """The process is gone: end its task with one sentence, and start a replacement."""
        with self._lock:
            if self._closed or _EXITING.is_set() or worker not in self.workers or worker.dead:
                return
            worker.dead = True
            worker.ready.clear()  # until its replacement is ready, dispatch passes it by
            task, worker.task = worker.task, None
            index = self.workers.index(worker)
        worker.process.join(1)
        log.warning("worker %s (pid %s) stopped unexpectedly (exit code %s)", index, worker.pid,
                    worker.process.exitcode)
        if task is not None:
            task.on_crash(CRASHED)
        # a worker that dies before it is ready would die again at once: wait longer each time
        self._failures = 0 if worker.ready.is_set() else self._failures + 1
        delay = min(30.0, 0.5 * 2 ** self._failures) if self._failures else 0.0
        threading.Timer(delay, self._replace, args=(index,)).start()

    def _replace(self, index: int) -> None:
        """Start a fresh worker in a dead one's place."""
        with self._lock:
            if self._closed:
                return
            self.workers[index] = Worker(self, index)

    # Turns and watchers --------------------------------------------------------------------
    def _tick(self) -> None:
        """Ask long runs to make way while others wait; let watchers check their sessions."""
        while not self._closed:
            time.sleep(TICK)  # a cadence, not a synchronisation: every check is idempotent
            with self._lock:
                turn = self.turn()
                first = min(turn, FIRST_TURN)  # first steps for everyone before long turns
                due = [w for w in self.workers
                       if self._queue and w.task is not None and w.task.wants_turns()
                       and not w.asked_back
                       and time.monotonic() - w.since >= (first if w.first_turn else turn)]
                for w in due:
                    w.asked_back = True
            for w in due:
                task = w.task
                if task is not None:
                    w.send(("yield", task.id))
            for watched in list(self._watched):
                try:
                    watched.tick()
                except Exception:  # one bad watcher must not stop the turns
                    log.exception("pool watcher failed")

    def turn(self) -> float:
        """How long a run may keep its worker while others wait: short enough that everyone in
        the queue gets a turn within CYCLE seconds (a class that pressed Start together all see
        first steps within seconds), never longer than `turn_seconds`, never under MIN_TURN
        (parking and resuming a run costs ~10 ms)."""
        workers, waiting = len(self.workers), len(self._queue)
        if not waiting:
            return self.limits.turn_seconds
        return min(self.limits.turn_seconds, max(MIN_TURN, CYCLE * workers / waiting))

    def watch(self, obj: Any) -> None:
        """Call obj.tick() every TICK while obj lives (a session's grace after its tab closed)."""
        self._watched.add(obj)

    # Life ----------------------------------------------------------------------------------
    def wait_ready(self, timeout: float = 120.0) -> bool:
        """Wait until every worker has warmed up."""
        deadline = time.monotonic() + timeout
        while True:  # the list is read again each time: a dead worker is replaced by a new one
            pending = [w for w in list(self.workers) if not w.ready.is_set()]
            left = deadline - time.monotonic()
            if not pending or left <= 0:
                return not pending
            pending[0].ready.wait(min(left, 0.5))

    def pids(self) -> list[int]:
        return [w.pid for w in self.workers if w.pid is not None]

    def close(self) -> None:
        """Stop every worker (tests; a server's workers end with it)."""
        with self._lock:
            self._closed = True
            workers = list(self.workers)
        for w in workers:
            w.send(("quit",))
        for w in workers:
            w.process.join(5)
            if w.process.is_alive():
                w.process.kill()
                w.process.join(5)


_POOL: Pool | None = None
_POOL_LOCK = threading.Lock()


def shared_pool() -> Pool:
    """The server's pool, started on first use (the app starts it while it warms up)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = Pool(limits=LIMITS)
        return _POOL


def close_shared_pool() -> None:
    """Stop the server's pool (tests and benchmarks that start it end it); the next use starts anew."""
    global _POOL
    with _POOL_LOCK:
        pool, _POOL = _POOL, None
    if pool is not None:
        pool.close()
