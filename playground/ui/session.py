"""Per-session objects: the runner that steers this tab's training in the worker pool, its compare
jobs, and the server warm-up."""

from __future__ import annotations

import gc
import logging
import os
import time

import streamlit as st
from streamlit.logger import get_logger

from playground.serve import LIMITS, Gate, Job, Runner, shared_pool
from playground.warmup import configure_torch, warm_up

log = logging.getLogger(__name__)
get_logger("playground")  # Streamlit's handler and --logger.level for the core's run/session logs
PAGE_GATE = Gate(LIMITS.max_page_runs)  # the app's script runs and live redraws pass through it


@st.cache_resource(show_spinner="Preparing PyTorch and the training workers (once per server start)…")
def server_warm_up() -> float:
    """Once per server, before any Start: the worker processes start and warm up (torch imported,
    a step of every model taken) while this process does the same for its own small builds (a
    run's first picture, downloads)."""
    t0 = time.perf_counter()
    pool = shared_pool()
    configure_torch(1)
    warm_up()
    if os.environ.get("PLAYGROUND_GC_FREEZE", "1") != "0":  # "0": a what-if of benchmarks/load.py
        gc.collect()
        gc.freeze()  # torch's objects leave the collector's view: later collections stay short
    pool.wait_ready()
    seconds = time.perf_counter() - t0
    log.info("warm-up took %.1f s; %s workers ready", seconds, len(pool.workers))
    return seconds


class SessionWork:
    """Everything a browser session runs in the background: its runner and its compare jobs."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.jobs: list[Job] = []

    def release(self) -> None:
        """The session went away: each piece stops unless the page comes back within the grace."""
        self.runner.abandon()
        for job in self.jobs:
            if job.alive:
                job.abandon()


@st.cache_resource(scope="session", on_release=lambda work: work.release(), show_spinner=False)
def _session_guard(runner_id: int, _work: SessionWork) -> SessionWork:
    """Ties the background work to this browser session: closing the tab releases it."""
    return _work


def _work() -> SessionWork:
    if "session_work" not in st.session_state:
        st.session_state.runner = Runner()
        st.session_state.session_work = SessionWork(st.session_state.runner)
    work: SessionWork = st.session_state.session_work
    _session_guard(work.runner.id, work)
    return work


def get_runner() -> Runner:
    """This session's runner, created on first use; every call proves the page is alive."""
    runner = _work().runner
    runner.keepalive()
    return runner


def track_job(job: Job) -> Job:
    """Stop a compare job with its session (after the same grace as the runner)."""
    work = _work()
    work.jobs = [j for j in work.jobs if j.alive] + [job]
    return job
