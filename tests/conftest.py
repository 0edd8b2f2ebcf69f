"""Shared fixtures for the browser tests: a free port, a `streamlit run` server, headless Chromium.

Everything here waits with a deadline (polling the health endpoint, never a bare sleep) and
always cleans up: the server is terminated (then killed) and the browser closed, pass or fail.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import torch

torch.set_num_threads(1)  # one torch thread per training, as the app and CLI run (2 thrash here)

if TYPE_CHECKING:
    from playwright.sync_api import Browser

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(__file__).resolve().parent / "_artifacts"  # git-ignored screenshots
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
BROWSER_TEST_DEADLINE = 150.0  # seconds one browser test may take before its browser is killed
_tick = threading.Event()  # never set: wait(interval) is a poll interval bounded by a deadline


def require_chromium() -> None:
    """Skip locally without Chromium, but never let CI pass by skipping."""
    if Path(CHROMIUM).exists():
        return
    reason = f"browser test needs Chromium at {CHROMIUM} (apt-get install chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI=true, so a missing browser is an error, not a skip")
    pytest.skip(reason)


def require_nginx() -> str:
    """nginx's path for the replica tests: skip locally without it, never let CI pass by skipping."""
    from deploy.replicas import NGINX, find_nginx

    found = find_nginx()
    if found:
        return found
    reason = f"the replica test needs nginx at {NGINX} or on PATH (apt-get install nginx)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI=true, so a missing nginx is an error, not a skip")
    pytest.skip(reason)


def pick_free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def free_port() -> int:
    return pick_free_port()


@dataclass
class Server:
    """A running `streamlit run` process; its stdout+stderr go to `log`."""

    url: str  # ends with "/"
    log: Path
    proc: subprocess.Popen

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def _wait_healthy(server: Server, timeout_s: float) -> None:
    """Poll the health endpoint until it answers, the server dies, or the deadline passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            pytest.fail(f"streamlit exited with {server.proc.returncode}:\n{server.log_text()}")
        try:
            with urllib.request.urlopen(server.url + "_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        _tick.wait(0.1)
    pytest.fail(f"streamlit not healthy after {timeout_s}s:\n{server.log_text()}")


def _stop(proc: subprocess.Popen) -> None:
    """Terminate, then kill if it will not go."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


ServeFn = Callable[..., Server]


@pytest.fixture(scope="module")
def serve_streamlit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeFn]:
    """A factory: `serve_streamlit(script, cwd=..., env=..., args=..., python=..., port=...)` starts
    a server and waits for it to be healthy; every server it started is stopped when the module ends.

    `python` replaces the `-m streamlit` launcher (e.g. `["-c", code]` for a bootstrap that sets
    something up in-process first); the `run <script> ...` arguments follow it either way. `port`
    (default: a free one) lets a test start a fresh server where a dead one listened (a restart).
    """
    procs: list[subprocess.Popen] = []

    def serve(script: str | Path, *, cwd: Path = ROOT, env: dict[str, str] | None = None,
              args: Sequence[str] = (), python: Sequence[str] = ("-m", "streamlit"),
              timeout_s: float = 90, port: int | None = None) -> Server:
        require_chromium()  # before starting a server that nothing could visit
        log = tmp_path_factory.mktemp("streamlit") / "server.log"
        port = port or pick_free_port()
        full_env = {**os.environ, **(env or {})}
        full_env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
        cmd = [sys.executable, *python, "run", str(script), "--server.port", str(port),
               "--server.headless", "true", "--browser.gatherUsageStats", "false",
               "--server.fileWatcherType", "none", *args]
        with log.open("w") as out:
            proc = subprocess.Popen(cmd, cwd=cwd, env=full_env, stdout=out, stderr=subprocess.STDOUT)
        procs.append(proc)
        server = Server(url=f"http://127.0.0.1:{port}/", log=log, proc=proc)
        _wait_healthy(server, timeout_s)
        return server

    try:
        yield serve
    finally:
        for proc in procs:
            _stop(proc)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Headless Chromium through Playwright, shared by a module's tests (each opens its own context).

    Module scope on purpose: Playwright's sync API allows one instance per thread at a time, so
    the browser is gone before another module's test starts its own `sync_playwright()`.
    """
    require_chromium()
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def _chromium_descendants() -> list[int]:
    """Pids of the Chromium processes started under this test process (Linux /proc; else none)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError, ValueError, IndexError):
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(stat.parent.name))
    found, todo = [], [os.getpid()]
    while todo:
        for pid in children.get(todo.pop(), []):
            todo.append(pid)
            with suppress(OSError):
                if b"chromium" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    found.append(pid)
    return found


@pytest.fixture
def browser_watchdog() -> Iterator[None]:
    """Fail a browser test that hangs instead of letting it hang the run.

    Playwright's timeouts are enforced by asking the page; a renderer whose main thread is frozen
    never answers, and the call then waits forever (microsoft/playwright#19374). Past the deadline
    this kills the Chromium processes, so the stuck call fails ("browser has been closed") and the
    teardown says why.
    """
    fired = threading.Event()

    def kill() -> None:
        fired.set()
        for pid in _chromium_descendants():
            with suppress(OSError):
                os.kill(pid, signal.SIGKILL)

    timer = threading.Timer(BROWSER_TEST_DEADLINE, kill)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
    if fired.is_set():
        pytest.fail(f"the test was still running after {BROWSER_TEST_DEADLINE:g} s, so its browser "
                    "was killed (a frozen page never answers Playwright)", pytrace=False)


@pytest.fixture(scope="session")
def pool():
    """The test session's worker pool (two warmed workers); AppTest's pages share it."""
    from playground.serve import runner as runner_module
    from playground.serve import shared_pool

    shared = shared_pool()
    assert shared.wait_ready(180), "the worker pool did not start"
    yield shared
    shared.close()
    runner_module._POOL = None
