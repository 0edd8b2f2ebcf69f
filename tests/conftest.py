"""Shared fixtures for the browser tests: a free port, a `streamlit run` server, headless Chromium.

Everything here waits with a deadline (polling the health endpoint, never a bare sleep) and
always cleans up: the server is terminated (then killed) and the browser closed, pass or fail.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import torch

from tests.helpers import descendants

torch.set_num_threads(1)  # one torch thread per training, as the app and CLI run (2 thrash here)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Playwright

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


class Browsers:
    """One Playwright instance and the Chromium its tests share, launched again when it is gone.

    A browser killed by the watchdog (or that crashed) must cost only its own test: `live()` asks
    the current browser process for its version over the DevTools pipe and, when it does not
    answer, closes what is left and launches a fresh one. (`Browser.is_connected()` alone is not
    enough: the sync API learns that the pipe closed only during its next call to the driver.)
    """

    def __init__(self, playwright: Playwright) -> None:
        self._playwright = playwright
        self._browser: Browser | None = None
        self.launches = 0

    def live(self) -> Browser:
        """The shared browser if it still answers, else a freshly launched one."""
        if self._browser is None or not _answers(self._browser):
            self.close()
            self._browser = self._playwright.chromium.launch(executable_path=CHROMIUM,
                                                             args=CHROMIUM_ARGS)
            self.launches += 1
        return self._browser

    def close(self) -> None:
        """Close the current browser, if any (a dead one closes without complaint)."""
        from playwright.sync_api import Error

        browser, self._browser = self._browser, None
        if browser is not None:
            with suppress(Error):
                browser.close()


def _answers(browser: Browser) -> bool:
    """True if the browser process answers a DevTools call (a round trip through the driver)."""
    from playwright.sync_api import Error

    if not browser.is_connected():
        return False
    try:
        session = browser.new_browser_cdp_session()
        try:
            session.send("Browser.getVersion")
        finally:
            session.detach()
    except Error:
        return False
    return True


@pytest.fixture(scope="module")
def browsers() -> Iterator[Browsers]:
    """The module's Playwright instance and its (re)launchable Chromium.

    Module scope on purpose: Playwright's sync API allows one instance per thread at a time, and
    between its calls it marks an event loop as running in this thread; so the instance is gone
    before another module's tests (which may run asyncio code of their own) start.
    """
    require_chromium()
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        keeper = Browsers(p)
        try:
            yield keeper
        finally:
            keeper.close()


@pytest.fixture
def chromium(browser_watchdog: None, browsers: Browsers) -> Browser:
    """A live headless Chromium for this test (each test opens its own context in it): the
    module's shared one, or a fresh one if an earlier test's browser was killed or crashed.
    Every test that uses it runs under the watchdog."""
    return browsers.live()


def _chromium_descendants() -> list[int]:
    """Pids of the Chromium processes started under this test process (Linux /proc; else none)."""
    return [pid for pid, cmd in descendants().items() if "chromium" in cmd]


def kill_chromium() -> list[int]:
    """SIGKILL every Chromium process under this test process; returns their pids."""
    pids = _chromium_descendants()
    for pid in pids:
        with suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    return pids


class Watchdog:
    """Kills this process's Chromium once `deadline_s` passes, unless stopped first.

    Playwright's timeouts are enforced by asking the page; a renderer whose main thread is frozen
    never answers, and the call then waits forever (microsoft/playwright#19374). Measured with this
    Playwright against a page in a JavaScript busy loop: `expect(...)` (the driver runs its first
    check without a timeout), `count()`, `mouse.move()` and `title()` hang past any timeout, while
    `inner_text`, `click`, `get_attribute`, `wait_for` and `screenshot` time out. Killing the
    browser makes the stuck call fail ("browser has been closed"). Before the kill, `report`
    records where the test was stuck and which Chromium process was using the CPU, so a hang in CI
    leaves evidence.
    """

    def __init__(self, deadline_s: float) -> None:
        self.fired = threading.Event()
        self.report = ""
        self._thread = threading.get_ident()  # the test's thread and greenlet: where it is stuck
        self._greenlet = _current_greenlet()
        self._timer = threading.Timer(deadline_s, self._kill)
        self._timer.daemon = True

    def _kill(self) -> None:
        self.fired.set()
        with suppress(Exception):  # evidence is a bonus: the kill must happen whatever it costs
            self.report = f"stuck at {_stuck_at(self._thread, self._greenlet)}; {_chromium_cpu()}"
        kill_chromium()

    def __enter__(self) -> Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        self._timer.join()  # a kill under way ends here, not in the next test's browser


def _current_greenlet() -> object | None:
    """The running greenlet: Playwright's sync API suspends it while a call waits."""
    try:
        import greenlet
    except ImportError:
        return None
    return greenlet.getcurrent()


def _stuck_at(thread_id: int, glet: object | None) -> str:
    """Where the watched test is now: its frames from the test function on, and the Playwright
    call it waits in (if any)."""
    frame = getattr(glet, "gr_frame", None)  # suspended in a Playwright call: its own frames
    if frame is None:
        frame = sys._current_frames().get(thread_id)
    if frame is None:
        return "an unknown place (the test's thread is gone)"
    stack = traceback.extract_stack(frame)
    api = next((i for i, f in enumerate(stack) if f"{os.sep}playwright{os.sep}" in f.filename), None)
    ours = stack[:api]
    first = next((i for i, f in enumerate(ours) if f.name.startswith("test_")), max(len(ours) - 1, 0))
    where = " > ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in ours[first:])
    if ours:
        where += f" ({ours[-1].line})"
    return where + (f", waiting in Playwright's {stack[api].name}()" if api is not None
                    else ", not in a Playwright call")


def _chromium_cpu(interval_s: float = 1.0) -> str:
    """CPU share of each of this process's Chromium processes over `interval_s`, busiest first."""
    def sample() -> dict[int, tuple[str, str, int]]:
        found = {}
        for pid in _chromium_descendants():
            with suppress(OSError, ValueError, IndexError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                kind = re.search(rb"--type=([\w-]+)", Path(f"/proc/{pid}/cmdline").read_bytes())
                found[pid] = (kind.group(1).decode() if kind else "browser", fields[0],
                              int(fields[11]) + int(fields[12]))
        return found

    before, start = sample(), time.monotonic()
    _tick.wait(interval_s)
    after, seconds = sample(), time.monotonic() - start
    hz = os.sysconf("SC_CLK_TCK")
    rows = sorted(((ticks - before[pid][2]) / hz / seconds, kind, pid, state)
                  for pid, (kind, state, ticks) in after.items() if pid in before)
    shown = ", ".join(f"{kind} {pid} ({state}) {share:.0%}" for share, kind, pid, state in rows[::-1][:4])
    return f"Chromium CPU over the last {interval_s:g} s: {shown or 'no Chromium process found'}"


@pytest.fixture
def browser_watchdog() -> Iterator[None]:
    """Fail a browser test that hangs instead of letting it hang the run: past the deadline its
    browser is killed, the stuck call fails, and the teardown says why. The next test's `chromium`
    launches a fresh browser, so only this test fails."""
    with Watchdog(BROWSER_TEST_DEADLINE) as dog:
        yield
    if dog.fired.is_set():
        pytest.fail(f"the test was still running after {BROWSER_TEST_DEADLINE:g} s, so its browser "
                    f"was killed (a frozen page never answers Playwright); {dog.report}",
                    pytrace=False)


@pytest.fixture(scope="session")
def pool():
    """The test session's worker pool (two warmed workers); AppTest's pages share it."""
    from playground.serve import shared_pool
    from playground.serve.pool import close_shared_pool

    shared = shared_pool()
    assert shared.wait_ready(180), "the worker pool did not start"
    yield shared
    close_shared_pool()
