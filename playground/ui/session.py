"""Per-session objects: the runner that owns this tab's training thread, and the server warm-up."""

from __future__ import annotations

import gc
import logging

import streamlit as st

from playground.engine import configure_torch, warm_up
from playground.runner import Runner

log = logging.getLogger(__name__)


@st.cache_resource(show_spinner="Preparing PyTorch (once per server start)…")
def server_warm_up() -> float:
    """Once per server, before any Start: torch's ~2 s of lazy imports and one torch thread per run."""
    configure_torch(1)
    seconds = warm_up()
    gc.collect()
    gc.freeze()  # torch's objects leave the collector's view: later collections stay short
    log.info("warm-up took %.1f s", seconds)
    return seconds


@st.cache_resource(scope="session", on_release=lambda runner: runner.abandon(), show_spinner=False)
def _session_guard(runner_id: int, _runner: Runner) -> Runner:
    """Ties the runner to this browser session: closing the tab releases it (after a grace)."""
    return _runner


def get_runner() -> Runner:
    """This session's runner, created on first use; every call proves the page is alive."""
    if "runner" not in st.session_state:
        st.session_state.runner = Runner()
    runner: Runner = st.session_state.runner
    _session_guard(runner.id, runner)
    runner.keepalive()
    return runner
