"""Load and soak: N concurrent sessions against a local `streamlit run app.py`, each pressing Start.

Every session speaks Streamlit's own websocket protocol (`/_stcore/stream`) the way the browser's
frontend does: it fetches the page and `/_stcore/host-config`, opens the websocket, asks for the
first script run, clicks **▶ Start** (a rerun whose widget states carry the button's trigger),
answers the fragment's `auto_rerun` messages with a rerun request every interval (4 Hz here: the
live view's `run_every`), stops those timers on `stop_auto_rerun` and on every full run, and sends
the query string the app last put in the address bar. It reads the status line ("**running** ·
step N / M") from the deltas, and while a run streams (playground/ui/stream.py) does what the
stream component does in a browser: polls the route named in the component's data at its pace,
reads the status line from each answer, and reruns the live fragment when the run ends. No
browser renders anything, so the client's own cost is small, but it shares this machine's cores
with the server: its CPU time is reported next to the results.

Phases: server start, one warm-up session (torch's one-off warm-up; then the baseline), all N
sessions open (page load; the idle cost per session), all press Start and train for --seconds (a
session whose run ends presses Start again after --think seconds, so the FIFO cap keeps cycling),
all close, then the run's grace (PLAYGROUND_SESSION_GRACE) and Streamlit's disconnected-session TTL
(--session-ttl) pass and one probe session connects (Streamlit reaps expired sessions on the next
disconnect). /_stcore/health and the server's RSS and thread count (/proc) are sampled every 0.5 s
throughout.

    python benchmarks/load.py --sessions 10 --seconds 45            # one load run, prints tables
    python benchmarks/load.py --sessions 25 --seconds 45 --write    # ... and updates docs/reliability.md
    python benchmarks/load.py --sessions 10 --soak 15 --write       # waves of sessions for 15 minutes
    python benchmarks/load.py --quick                               # 3 sessions, a few seconds
    python benchmarks/load.py --sessions 25 --queued-poll 2 --write # what-if: slow polling while queued

Every run starts and stops its own server (in a `finally`), and every wait has a deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.Element_pb2 import Element
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "reliability.md"
SECTION = "load"
SAMPLE_EVERY = 0.5  # seconds between health / RSS / thread samples
THREAD_SLACK = 2  # threads above the reference still counted as "back"
REAP_WAIT_S = 10.0  # after the probe visitor leaves, how long its threads may take to go
ANYIO_IDLE = 10.0  # AnyIO prunes HTTP worker threads idle this long, on its next request
FINISHED = ("completed", "diverged", "early stopped", "stopped", "error")
STATE_RE = re.compile(r"\*\*(idle|ready|starting|queued|running|paused|completed|diverged|"
                      r"early stopped|stopped|error)\*\*")
STEP_RE = re.compile(r"step ([\d,]+) / ([\d,]+)")
GOAL_RSS_MB = 3072  # the server stays under 3 GB with 50 sessions open
GOAL_IDLE_MB = 20  # an idle session costs under 20 MB
GOAL_HEALTH_S = 1.0  # /_stcore/health answers within 1 s


@dataclass(frozen=True)
class Options:
    """One load or soak run: how many sessions, for how long, under which server limits."""

    sessions: int = 10
    seconds: float = 30.0  # training window (per wave when soaking)
    soak_minutes: float = 0.0
    epochs: int = 400  # per run; the app's default, so runs end and the queue cycles
    think: float = 1.0  # seconds a session waits before pressing Start again after its run ended
    workers: int = 2  # PLAYGROUND_WORKERS: worker processes that train
    session_grace: float = 2.0
    session_ttl: int = 5  # Streamlit's server.disconnectedSessionTTL (its default is 120 s)
    max_steps: int | None = None
    max_seconds: float | None = None
    load_timeout: float = 180.0  # seconds all sessions may take to load
    settle_timeout: float = 30.0  # seconds past the grace allowed for threads to come back
    reap: bool = True  # wait out the session TTL and send one visitor (memory after sessions)
    queued_poll: float | None = None  # what-if: poll this slowly while queued (the app: 0.25 s)
    max_page_runs: int | None = None  # what-if: PLAYGROUND_MAX_PAGE_RUNS (None: the app's default)
    default_gc: bool = False  # what-if: Streamlit's GC after every script run, no gc.freeze()
    port: int = 0

    def env(self) -> dict[str, str]:
        """The PLAYGROUND_* limits the server starts with."""
        env = {"PLAYGROUND_WORKERS": str(self.workers),
               "PLAYGROUND_SESSION_GRACE": str(self.session_grace)}
        if self.max_steps is not None:
            env["PLAYGROUND_MAX_STEPS"] = str(self.max_steps)
        if self.max_seconds is not None:
            env["PLAYGROUND_MAX_SECONDS"] = str(self.max_seconds)
        if self.max_page_runs is not None:
            env["PLAYGROUND_MAX_PAGE_RUNS"] = str(self.max_page_runs)
        if self.default_gc:
            env.update(STREAMLIT_RUNNER_POST_SCRIPT_GC="true", PLAYGROUND_GC_FREEZE="0")
        return env


# The server ------------------------------------------------------------------------------------
@dataclass
class Server:
    """A `streamlit run app.py` process started by this script."""

    proc: subprocess.Popen
    port: int
    log: Path

    @property
    def url(self) -> str:
        """The page's address."""
        return f"http://127.0.0.1:{self.port}/"


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(opts: Options, timeout: float = 120.0) -> Server:
    """The app as users run it (repo config), with this run's limits; waits until healthy."""
    port = opts.port or free_port()
    log = Path(tempfile.mkstemp(prefix="playground-load-", suffix=".log")[1])
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
           "--server.headless", "true", "--server.address", "127.0.0.1",
           "--server.disconnectedSessionTTL", str(opts.session_ttl)]
    env = {**os.environ, **opts.env()}
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(proc, port, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        if health_latency(server.url, 1.0) is not None:
            return server
        threading.Event().wait(0.1)
    stop_server(server)
    raise RuntimeError(f"server not healthy after {timeout:g} s")


def stop_server(server: Server) -> None:
    """Terminate, then kill if it will not go."""
    if server.proc.poll() is None:
        server.proc.terminate()
        try:
            server.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait(timeout=10)


@contextlib.contextmanager
def running_server(opts: Options) -> Iterator[Server]:
    """A server that is always stopped, whatever happens inside (its log is kept only on failure)."""
    server = start_server(opts)
    try:
        yield server
    except BaseException:
        print(f"server log: {server.log}", file=sys.stderr)
        raise
    else:
        server.log.unlink(missing_ok=True)
    finally:
        stop_server(server)


def health_latency(url: str, timeout: float) -> float | None:
    """Seconds /_stcore/health took to answer 200, or None if it failed."""
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(url + "_stcore/health", timeout=timeout) as response:
            response.read()
            ok = response.status == 200
    except OSError:
        return None
    return time.perf_counter() - t0 if ok else None


@dataclass(frozen=True)
class ProcStats:
    """Resident memory (MB), thread count and CPU seconds of one process, from /proc."""

    rss_mb: float
    threads: int
    cpu_s: float


def proc_stats(pid: int) -> ProcStats:
    """Read VmRSS and Threads from /proc/PID/status and utime+stime from /proc/PID/stat."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.split()
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return ProcStats(rss_mb=int(fields["VmRSS"][0]) / 1024, threads=int(fields["Threads"][0]),
                     cpu_s=(int(stat[11]) + int(stat[12])) / ticks)


# Sampling --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sample:
    """One 0.5 s sample: the phase, health latency (None = failed) and the server's resources."""

    t: float
    phase: str
    health_s: float | None
    stats: ProcStats


class Sampler:
    """A thread that samples health and /proc every SAMPLE_EVERY seconds until stopped."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.phase = "start"
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="load-sampler", daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        """Sample on a fixed grid so slow answers do not thin the samples out."""
        next_t = time.monotonic()
        while not self._stop.is_set():
            self.sample()
            next_t += SAMPLE_EVERY
            self._stop.wait(max(0.0, next_t - time.monotonic()))

    def sample(self) -> Sample | None:
        """Take one sample now (also callable from the main thread for a phase boundary)."""
        latency = health_latency(self.server.url, 5.0)
        with contextlib.suppress(OSError):
            s = Sample(time.monotonic(), self.phase, latency, proc_stats(self.server.proc.pid))
            self.samples.append(s)
            return s
        return None

    def of(self, *phases: str) -> list[Sample]:
        """The samples taken during these phases."""
        return [s for s in self.samples if s.phase in phases]


# One session, as the frontend would drive it ---------------------------------------------------
def rerun_msg(query: str, widgets: Sequence[WidgetState] = (), fragment_id: str = "",
              auto: bool = False) -> bytes:
    """A rerun_script BackMsg like the frontend's sendRerunBackMsg."""
    msg = BackMsg()
    state = msg.rerun_script
    state.query_string = query
    state.fragment_id = fragment_id
    state.is_auto_rerun = auto
    state.widget_states.widgets.extend(widgets)
    state.context_info.timezone = "UTC"
    state.context_info.locale = "en-US"
    return msg.SerializeToString()


async def http_get(port: int, path: str, timeout: float = 60.0) -> int:
    """A plain HTTP/1.1 GET on loopback (no thread pool, so 50 at once stay concurrent); the status."""
    return (await _get(port, path, timeout))[0]


async def http_json(port: int, path: str, timeout: float = 60.0) -> tuple[int, dict]:
    """A GET like `http_get`'s, with its JSON body ({} for none)."""
    status, body = await _get(port, path, timeout)
    return status, json.loads(body) if body.strip() else {}


async def _get(port: int, path: str, timeout: float) -> tuple[int, bytes]:
    """(status, body) of one GET on loopback."""
    async def go() -> tuple[int, bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
                     .encode())
        await writer.drain()
        data = await reader.read()
        writer.close()
        head, _, body = data.partition(b"\r\n\r\n")
        return (int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0), body
    return await asyncio.wait_for(go(), timeout)


def stream_status(html: str) -> str:
    """The live stream's status line (HTML) as the markdown the page's own line carries."""
    return re.sub(r"</?strong>", "**", html)


@dataclass
class SessionLog:
    """What one session saw."""

    index: int
    load_s: float | None = None  # page request to the first script run finished
    error: str = ""
    states: set[str] = field(default_factory=set)
    clicks: int = 0
    runs_ended: int = 0
    steps: int = 0  # optimizer steps seen during the training window
    running_s: float = 0.0  # seconds seen in the running state during the window
    first_running_after: float | None = None  # seconds from the first click to "running"
    first_step_after: float | None = None  # seconds from the first click to a step on the page
    start_drawn_after: float | None = None  # seconds from the first click to its page run's end
    exceptions: list[str] = field(default_factory=list)
    messages: int = 0
    reruns_sent: int = 0  # fragment reruns requested during the window
    fragment_runs: int = 0  # fragment runs the server finished during the window
    full_runs: int = 0  # whole-page runs the server finished during the window


class Session:
    """One emulated browser tab: loads the page, presses Start, answers auto-reruns."""

    def __init__(self, index: int, port: int, opts: Options, query: str) -> None:
        self.port, self.opts, self.query = port, opts, query
        self.log = SessionLog(index)
        self.ws: websockets.ClientConnection | None = None
        self.start_id = ""
        self.buttons: dict[str, str] = {}  # widget key -> element id, for clicking by key
        self.state = ""
        self.last_step, self.last_step_t = 0, 0.0
        self.window: tuple[float, float] | None = None  # (start, end) of the counted window
        self.first_click = 0.0
        self.last_status_t = 0.0
        self.restart = False
        self.loaded = asyncio.Event()
        self._timers: dict[str, tuple[asyncio.Task, float]] = {}  # fragment id -> (timer, interval)
        self._tasks: set[asyncio.Task] = set()
        self._reader: asyncio.Task | None = None
        self._stream: dict | None = None  # the live stream's url and pace while a run streams
        self._streamer: asyncio.Task | None = None

    async def open(self) -> None:
        """Fetch the page like a browser, connect, request the first run, wait until it finished."""
        t0 = time.monotonic()
        try:
            await self._connect()
            await asyncio.wait_for(self.loaded.wait(), self.opts.load_timeout)
            self.log.load_s = time.monotonic() - t0
        except Exception as exc:  # a failed load is a result, not a crash of the benchmark
            self.log.error = f"{type(exc).__name__}: {exc}"[:200]

    async def _connect(self) -> None:
        """The HTTP requests the page makes before its websocket, then the websocket itself."""
        for path in ("/", "/_stcore/health", "/_stcore/host-config"):
            status = await http_get(self.port, path)
            if status != 200:
                raise RuntimeError(f"GET {path} answered {status}")
        self.ws = await websockets.connect(
            f"ws://127.0.0.1:{self.port}/_stcore/stream", subprotocols=["streamlit"],
            origin=f"http://127.0.0.1:{self.port}", max_size=None, open_timeout=60,
            ping_interval=None)
        self._reader = asyncio.create_task(self._read())
        await self.ws.send(rerun_msg(self.query))

    async def click_start(self) -> None:
        """Press ▶ Start: a full rerun whose widget states carry the button's trigger."""
        if self.ws is None or not self.start_id:
            return
        self.log.clicks += 1
        self.last_step, self.last_step_t = 0, 0.0
        self.restart = False
        if not self.first_click:
            self.first_click = time.monotonic()
        await self.ws.send(rerun_msg(self.query, [WidgetState(id=self.start_id, trigger_value=True)]))

    async def click(self, key: str) -> None:
        """Press the button with this widget key (a full rerun carrying its trigger)."""
        if self.ws is not None and key in self.buttons:
            await self.ws.send(rerun_msg(self.query, [WidgetState(id=self.buttons[key],
                                                                  trigger_value=True)]))

    async def close(self) -> None:
        """Close the tab: the websocket goes away (Streamlit then releases the session)."""
        for task in self._tasks:
            task.cancel()
        await self.drop_socket()

    async def drop_socket(self) -> None:
        """Stop the rerun timers and the stream, close the websocket and stop reading it."""
        self._cancel_timers()
        self._stream = None
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(), 10)
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(BaseException):
                await self._reader

    async def _read(self) -> None:
        """Handle every ForwardMsg until the socket closes."""
        assert self.ws is not None
        with contextlib.suppress(websockets.ConnectionClosed):
            async for data in self.ws:
                msg = ForwardMsg()
                msg.ParseFromString(data)
                self.log.messages += 1
                self._handle(msg)

    def _handle(self, msg: ForwardMsg) -> None:
        """The subset of the frontend's handleMessage a load test needs."""
        kind = msg.WhichOneof("type")
        if kind == "new_session" and not msg.metadata.run.fragment_ids:
            self._cancel_timers()  # cleanupAutoReruns: a full run re-declares its fragments
        elif kind == "page_info_changed":
            self.query = msg.page_info_changed.query_string
        elif kind == "auto_rerun":
            self._auto_rerun(msg.auto_rerun.fragment_id, msg.auto_rerun.interval)
        elif kind == "stop_auto_rerun":
            for fid in msg.stop_auto_rerun.fragment_ids:
                self._cancel_timer(fid)
        elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            self._element(msg.delta.new_element, msg.delta.fragment_id)
        elif kind == "script_finished":
            self._finished(msg)

    def _element(self, el: Element, fragment_id: str = "") -> None:
        """Remember the Start button's id; read the status line; follow the live stream; note
        exceptions."""
        kind = el.WhichOneof("type")
        if kind == "bidi_component" and '"/_pp/stream/' in el.bidi_component.json:
            self._follow_stream(json.loads(el.bidi_component.json), fragment_id)
        if kind == "button":
            self.buttons[el.button.id.rsplit("-", 1)[-1]] = el.button.id
            if el.button.id.endswith("-start"):
                self.start_id = el.button.id
        elif kind == "markdown" and "**" in el.markdown.body:
            self._status(el.markdown.body)
        elif kind == "exception":
            self.log.exceptions.append(f"{el.exception.type}: {el.exception.message}"[:200])

    def _status(self, body: str) -> None:
        """Track state and step from "🟢 **running** · step N / M · ..."."""
        state = STATE_RE.search(body)
        if state is None or not body.lstrip().startswith(tuple("⚪🟡🟢⏸✅💥🛑⏹⚠")):
            return
        now = time.monotonic()
        in_window = self._in_window()
        if in_window and self.state == "running":
            self.log.running_s += now - max(self.last_status_t, self.window[0])
        self.state, self.last_status_t = state.group(1), now
        self.log.states.add(self.state)
        if self.state == "running" and self.first_click and self.log.first_running_after is None:
            self.log.first_running_after = now - self.first_click
        step = STEP_RE.search(body)
        if step:
            n = int(step.group(1).replace(",", ""))
            if in_window and n >= self.last_step:
                self.log.steps += n - self.last_step
            self.last_step, self.last_step_t = n, now  # when this step reached the page
            if n >= 1 and self.first_click and self.log.first_step_after is None:
                self.log.first_step_after = now - self.first_click

    def _follow_stream(self, data: dict, fragment_id: str) -> None:
        """What the stream component does in a browser: draw its first status at once, then poll
        its route (playground/ui/stream.py, assets/stream.js)."""
        self._stream = {**data, "fragment_id": fragment_id, "have": ""}
        if data.get("first", {}).get("status"):
            self._status(stream_status(data["first"]["status"]))
        if self._streamer is None or self._streamer.done():
            self._streamer = asyncio.create_task(self._poll_stream())
            self._tasks.add(self._streamer)
            self._streamer.add_done_callback(self._tasks.discard)

    async def _poll_stream(self) -> None:
        """Poll the stream until its run leaves running/queued, then rerun the live fragment (the
        component's "ended" trigger), as the browser does."""
        while (stream := self._stream) is not None:
            every = stream["queued_every"] if self.state == "queued" else stream["every"]
            await asyncio.sleep(every)
            if stream is not self._stream:
                continue  # a fresh mount: same url, its pace
            query = (f"log_y={int(stream['log_y'])}&smoothing={stream['smoothing']}"
                     f"&have={stream['have']}&diag=0")
            try:
                status, body = await self.get_json(f"{stream['url']}?{query}")
            except (TimeoutError, OSError, ValueError):
                continue
            if status != 200:
                continue
            stream["have"] = body.get("version", "")
            if "status" in body:
                self._status(stream_status(body["status"]))
            if body.get("state") not in ("running", "queued"):
                self._stream = None
                if self.ws is not None:
                    with contextlib.suppress(websockets.ConnectionClosed):
                        await self.ws.send(rerun_msg(self.query, fragment_id=stream["fragment_id"]))

    async def get_json(self, path: str) -> tuple[int, dict]:
        """One GET of this tab's page server and its JSON body (a proxy's tab adds its cookies)."""
        return await http_json(self.port, path)

    def _finished(self, msg: ForwardMsg) -> None:
        """First run done = page loaded; a full run showing a finished state = press Start again."""
        self.loaded.set()
        full_run = not msg.metadata.run.fragment_ids
        if full_run and self.first_click and self.log.start_drawn_after is None:
            self.log.start_drawn_after = time.monotonic() - self.first_click
        if self._in_window():
            self.log.fragment_runs += not full_run
            self.log.full_runs += full_run
        if full_run and self.state in FINISHED and self.log.clicks and not self.restart:
            self.log.runs_ended += 1
            self.restart = True
            self._spawn(self._again())

    async def _again(self) -> None:
        """The user looks at the result for a moment, then presses Start again (in the window)."""
        await asyncio.sleep(self.opts.think)
        if self.window is not None and time.monotonic() < self.window[1]:
            await self.click_start()

    def _auto_rerun(self, fragment_id: str, interval: float) -> None:
        """handleAutoRerun: one timer per fragment, replaced only when its interval changes."""
        if not fragment_id or self._timers.get(fragment_id, (None, None))[1] == interval:
            return
        self._cancel_timer(fragment_id)
        self._timers[fragment_id] = (asyncio.create_task(self._tick(fragment_id, interval)), interval)

    async def _tick(self, fragment_id: str, interval: float) -> None:
        """setInterval(sendUpdateWidgetsMessage(fragmentId, isAutoRerun=true), interval)."""
        with contextlib.suppress(websockets.ConnectionClosed):
            while True:
                slow = self.opts.queued_poll if self.state == "queued" else None
                await asyncio.sleep(slow or interval)
                assert self.ws is not None
                self.log.reruns_sent += self._in_window()
                await self.ws.send(rerun_msg(self.query, fragment_id=fragment_id, auto=True))

    def _in_window(self) -> bool:
        """Whether now lies in the counted training window."""
        return self.window is not None and self.window[0] <= time.monotonic() <= self.window[1]

    def _cancel_timer(self, fragment_id: str) -> None:
        """clearAutoRerunInterval: stop one fragment's timer."""
        timer = self._timers.pop(fragment_id, None)
        if timer is not None:
            timer[0].cancel()

    def _cancel_timers(self) -> None:
        """cleanupAutoReruns: stop every timer."""
        for fid in list(self._timers):
            self._cancel_timer(fid)

    def _spawn(self, coro: Coroutine[object, object, None]) -> None:
        """Keep a reference to a background task so it is not garbage-collected mid-flight."""
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


# A load run ------------------------------------------------------------------------------------
@dataclass
class Result:
    """Everything one load run measured (also stored as JSON in the docs)."""

    name: str
    command: str
    date: str
    sessions: int
    seconds: float
    epochs: int
    workers: int
    session_grace: float
    session_ttl: int
    load_avg_before: float
    load_avg_after: float
    loaded: int = 0
    load_s: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    health: dict[str, list[float]] = field(default_factory=dict)
    health_failures: int = 0
    steps_total: int = 0
    window_s: float = 0.0
    per_session_rate: list[float] = field(default_factory=list)
    sessions_ran: int = 0
    sessions_queued: int = 0
    max_wait_s: float | None = None
    first_step_s: list[float] = field(default_factory=list)  # Start -> first step seen, per session
    runs_ended: int = 0
    exceptions: list[str] = field(default_factory=list)
    resources: dict[str, dict[str, float]] = field(default_factory=dict)
    threads_back_s: float | None = None
    server_cpu_cores: float = 0.0
    client_cpu_cores: float = 0.0
    reruns_sent: int = 0
    fragment_runs: int = 0
    full_runs: int = 0  # whole-page runs finished in the window (Start, a run ending, a flip)
    queued_poll: float | None = None
    waves: list[dict] = field(default_factory=list)
    max_page_runs: int | None = None  # None: the app's default gate (older runs: no gate existed)
    default_gc: bool = False


def variant(r: Result | dict) -> str:
    """How this run's server differs from the app as shipped (empty: it is the app)."""
    d = r if isinstance(r, dict) else asdict(r)
    parts = []
    if d.get("queued_poll"):
        parts.append(f"queued sessions poll every {d['queued_poll']:g} s")
    if d.get("default_gc"):
        parts.append("GC after every script run, no gc.freeze()")
    if d.get("max_page_runs"):
        parts.append(f"{d['max_page_runs']} page runs at once" if d["max_page_runs"] < 1000
                     else "no page gate")
    return ", ".join(parts)


def load_avg() -> float:
    """The 1-minute load average (other work on this 2-core machine makes numbers pessimistic)."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def share_query(opts: Options) -> str:
    """The share link the sessions open: the default setup with this run's epochs, played at full
    speed (a paced run sleeps between steps and would hide the contention this measures)."""
    return "pace=0" if opts.epochs == 400 else f"epochs={opts.epochs}&pace=0"


async def open_all(port: int, opts: Options, n: int, first: int = 0) -> list[Session]:
    """Open n sessions at once (a class following the same link) and wait for their first runs."""
    sessions = [Session(first + i, port, opts, share_query(opts)) for i in range(n)]
    await asyncio.gather(*(s.open() for s in sessions))
    return sessions


async def close_all(sessions: Sequence[Session]) -> None:
    """Close every tab."""
    await asyncio.gather(*(s.close() for s in sessions))


async def train_window(sessions: Sequence[Session], seconds: float) -> float:
    """Everyone presses Start; count steps for `seconds`; returns the window's length."""
    t0 = time.monotonic()
    for s in sessions:
        s.window = (t0, t0 + seconds)
    await asyncio.gather(*(s.click_start() for s in sessions))
    await asyncio.sleep(max(0.0, t0 + seconds - time.monotonic()))
    for s in sessions:  # the running time since the last status line counts up to the end
        if s.state == "running":
            s.log.running_s += t0 + seconds - max(s.last_status_t, t0)
    return seconds


def wait_for(pred: Callable[[], bool], timeout: float, poll: float = 0.1) -> bool:
    """Poll pred until it holds or the deadline passes; whether it held."""
    deadline = time.monotonic() + timeout
    tick = threading.Event()
    while time.monotonic() < deadline:
        if pred():
            return True
        tick.wait(poll)
    return pred()


def settle(server: Server, reference: ProcStats, opts: Options) -> tuple[float | None, ProcStats]:
    """Seconds after the close until the training and script threads are gone (threads back
    within THREAD_SLACK of the idle count, which holds the page loads' idle HTTP workers), and
    the sample that showed it: a later sample may catch a passing thread (an HTTP worker, a
    health check) and say nothing about the runs."""
    t0, seen = time.monotonic(), [proc_stats(server.proc.pid)]

    def back() -> bool:
        seen.append(proc_stats(server.proc.pid))
        return seen[-1].threads <= reference.threads + THREAD_SLACK

    took = time.monotonic() - t0 if wait_for(back, opts.session_grace + opts.settle_timeout) else None
    return took, seen[-1]


def stats_row(samples: Sequence[Sample], peak: bool = False) -> dict[str, float]:
    """RSS and threads of a phase: its last sample, or its peak."""
    if not samples:
        return {}
    if peak:
        return {"rss_mb": max(s.stats.rss_mb for s in samples),
                "threads": max(s.stats.threads for s in samples)}
    return {"rss_mb": samples[-1].stats.rss_mb, "threads": samples[-1].stats.threads}


def mark(sampler: Sampler, phase: str) -> ProcStats:
    """Switch the sampler to a phase and take one sample at its start."""
    sampler.phase = phase
    s = sampler.sample()
    return s.stats if s else proc_stats(sampler.server.proc.pid)


async def probe(port: int, opts: Options) -> None:
    """One visitor loads the page and leaves: its disconnect reaps sessions whose TTL expired."""
    sessions = await open_all(port, opts, 1, first=-1)
    await close_all(sessions)


async def warm_up(server: Server, opts: Options) -> None:
    """The first page load pays the server's torch warm-up; it is not counted as a page load."""
    sessions = await open_all(server.port, Options(**{**asdict(opts), "load_timeout": 300}), 1, -1)
    if sessions[0].log.load_s is None:
        raise RuntimeError(f"the warm-up session did not load: {sessions[0].log.error}")
    await close_all(sessions)


async def one_run(server: Server, sampler: Sampler, opts: Options, result: Result,
                  baseline: ProcStats) -> None:
    """Open, idle, train, close, settle: fill in `result` for one wave of sessions."""
    mark(sampler, "open")
    sessions = await open_all(server.port, opts, opts.sessions)
    opened = time.monotonic()
    idle = mark(sampler, "idle")
    cpu0, client0 = proc_stats(server.proc.pid).cpu_s, time.process_time()
    mark(sampler, "train")
    result.window_s = await train_window(sessions, opts.seconds)
    cpu1, client1 = proc_stats(server.proc.pid).cpu_s, time.process_time()
    mark(sampler, "close")
    await close_all(sessions)
    closed, closed_t = mark(sampler, "grace"), time.monotonic()
    result.threads_back_s, after_grace = await asyncio.to_thread(settle, server, idle, opts)
    mark(sampler, "ttl")
    wake = max(closed_t + opts.session_ttl + 1, opened + ANYIO_IDLE + 0.5)
    after_ttl = await reap(server, sampler, opts, wake, baseline) if opts.reap else None
    summarise(result, sessions, sampler, opts)
    result.server_cpu_cores = (cpu1 - cpu0) / result.window_s
    result.client_cpu_cores = (client1 - client0) / result.window_s
    result.resources = {
        "baseline": _res(baseline), "idle": _res(idle), "train_peak": stats_row(sampler.of("train"), True),
        "closed": _res(closed), "after_grace": _res(after_grace), "after_ttl": _res(after_ttl)}


async def reap(server: Server, sampler: Sampler, opts: Options, wake: float,
               reference: ProcStats) -> ProcStats:
    """Wait until the closed sessions' TTL has expired and the page loads' HTTP worker threads
    have idled out, let one visitor come and go (both are reaped on the next request), sample."""
    await asyncio.sleep(max(0.0, wake - time.monotonic()))
    await probe(server.port, opts)
    mark(sampler, "after")
    seen: list[ProcStats] = []

    def back() -> bool:  # the probe's own script run ends, then its thread goes
        seen.append(proc_stats(server.proc.pid))
        return seen[-1].threads <= reference.threads + THREAD_SLACK

    await asyncio.to_thread(wait_for, back, REAP_WAIT_S)
    return seen[-1]


def _res(stats: ProcStats | None) -> dict[str, float]:
    """A ProcStats as the JSON the docs keep ({} when not measured)."""
    return {"rss_mb": stats.rss_mb, "threads": stats.threads} if stats else {}


def summarise(result: Result, sessions: Sequence[Session], sampler: Sampler, opts: Options) -> None:
    """Fold the sessions' logs and the samples into the result."""
    logs = [s.log for s in sessions]
    result.loaded = sum(1 for log in logs if log.load_s is not None)
    result.load_s = sorted(log.load_s for log in logs if log.load_s is not None)
    result.errors = sorted({log.error for log in logs if log.error})
    for phase in ("open", "train"):
        result.health[phase] = [s.health_s for s in sampler.of(phase) if s.health_s is not None]
    result.health_failures = sum(1 for s in sampler.of("open", "train") if s.health_s is None)
    result.steps_total = sum(log.steps for log in logs)
    result.per_session_rate = sorted(log.steps / log.running_s for log in logs if log.running_s > 0.5)
    result.sessions_ran = sum(1 for log in logs if "running" in log.states or log.runs_ended)
    result.sessions_queued = sum(1 for log in logs if "queued" in log.states)
    waits = [log.first_running_after for log in logs if log.first_running_after is not None]
    result.max_wait_s = max(waits) if waits else None
    result.first_step_s = sorted(log.first_step_after for log in logs
                                 if log.first_step_after is not None)
    result.runs_ended = sum(log.runs_ended for log in logs)
    result.reruns_sent = sum(log.reruns_sent for log in logs)
    result.fragment_runs = sum(log.fragment_runs for log in logs)
    result.full_runs = sum(log.full_runs for log in logs)
    result.exceptions = sorted({e for log in logs for e in log.exceptions})[:5]


def new_result(opts: Options, name: str) -> Result:
    """An empty result stamped with the command, the date and the machine's load."""
    return Result(name=name, command=command(), date=datetime.date.today().isoformat(),
                  sessions=opts.sessions, seconds=opts.seconds, epochs=opts.epochs,
                  workers=opts.workers, session_grace=opts.session_grace,
                  session_ttl=opts.session_ttl, load_avg_before=load_avg(), load_avg_after=0.0,
                  queued_poll=opts.queued_poll, max_page_runs=opts.max_page_runs,
                  default_gc=opts.default_gc)


def command() -> str:
    """The command line that ran this script, as typed from the repo root."""
    script = Path(sys.argv[0]).resolve()
    with contextlib.suppress(ValueError):
        script = script.relative_to(ROOT)
    return " ".join(["python", str(script), *sys.argv[1:]])


async def measure_async(opts: Options) -> Result:
    """One load run against a fresh server."""
    result = new_result(opts, f"{opts.sessions} sessions")
    with running_server(opts) as server, Sampler(server) as sampler:
        await warm_up(server, opts)
        await asyncio.to_thread(wait_for, lambda: False, 1.0)  # the warm-up's script thread ends
        baseline = mark(sampler, "baseline")
        await one_run(server, sampler, opts, result, baseline)
    result.load_avg_after = load_avg()
    return result


def measure(opts: Options) -> Result:
    """Synchronous entry point (tests and the command line)."""
    return asyncio.run(measure_async(opts))


async def soak_async(opts: Options) -> Result:
    """Waves of sessions opening, training and closing for opts.soak_minutes on one server."""
    result = new_result(opts, "soak")
    deadline = time.monotonic() + opts.soak_minutes * 60
    with running_server(opts) as server, Sampler(server) as sampler:
        await warm_up(server, opts)
        await asyncio.to_thread(wait_for, lambda: False, 1.0)
        baseline = mark(sampler, "baseline")
        while time.monotonic() < deadline:
            wave = new_result(opts, f"wave {len(result.waves) + 1}")
            await one_run(server, sampler, opts, wave, baseline)
            result.waves.append(wave_row(wave))
            print(f"  {result.waves[-1]}", file=sys.stderr, flush=True)
            sampler.samples = sampler.of("baseline")  # keep memory flat over long soaks
        result.resources = {"baseline": _res(baseline)}
    result.load_avg_after = load_avg()
    return result


def soak(opts: Options) -> Result:
    """Synchronous entry point for the soak."""
    return asyncio.run(soak_async(opts))


def wave_row(r: Result) -> dict:
    """The numbers of one soak wave worth keeping."""
    return {"loaded": r.loaded, "sessions": r.sessions, "load_p95": pct(r.load_s, 95),
            "health_max": max(r.health.get("train", []) + r.health.get("open", []), default=None),
            "steps_per_s": r.steps_total / r.window_s if r.window_s else 0.0,
            "ran": r.sessions_ran, "peak_rss_mb": r.resources["train_peak"]["rss_mb"],
            "rss_after_mb": r.resources["after_ttl"]["rss_mb"],
            "threads_after": r.resources["after_grace"]["threads"],
            "threads_after_ttl": r.resources["after_ttl"]["threads"],
            "threads_back_s": r.threads_back_s, "load_avg": r.load_avg_before}


# Reporting -------------------------------------------------------------------------------------
def pct(values: Sequence[float], p: float) -> float | None:
    """The p-th percentile (nearest rank), None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def fmt(value: float | None, unit: str = "", digits: int = 2) -> str:
    """A number for a table cell; '—' when there is none."""
    if value is None:
        return "—"
    return f"{value:,.{digits}f}{unit}"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def run_markdown(r: Result) -> str:
    """The tables of one load run."""
    cpus = os.cpu_count()
    idle_mb = (r.resources["idle"]["rss_mb"] - r.resources["baseline"]["rss_mb"]) / r.sessions
    what_if = f" (what-if: {variant(r)})" if variant(r) else ""
    head = (f"### {r.name}, {r.seconds:g} s of training{what_if}\n\n"
            f"`{r.command}` — {r.date}; limits: {r.workers} worker processes, "
            f"{r.epochs} epochs per run, grace {r.session_grace:g} s, session TTL "
            f"{r.session_ttl} s. Load average before / after: {r.load_avg_before:.2f} / "
            f"{r.load_avg_after:.2f} on {cpus} CPUs"
            + (" (**busy machine: numbers are pessimistic**)" if r.load_avg_before > 3 else "")
            + f". Client CPU {r.client_cpu_cores:.2f} cores, server CPU {r.server_cpu_cores:.2f} "
              "cores during training.\n")
    every = r.health.get("open", []) + r.health.get("train", [])
    p99 = pct(every, 99)
    pages = table(["sessions", "loaded", "page load p50", "p95", "max", "health p50 (load / train)",
                   "health p95", "health p99 (all)", "health max", "health failures"],
                  [[str(r.sessions), f"{r.loaded}/{r.sessions}", fmt(pct(r.load_s, 50), " s"),
                    fmt(pct(r.load_s, 95), " s"), fmt(max(r.load_s, default=None), " s"),
                    _pair(r, 50), _pair(r, 95), fmt(p99 * 1000 if p99 is not None else None, " ms", 0),
                    _pair(r, 100), str(r.health_failures)]])
    rates = r.per_session_rate
    train = table(["steps/s total (seen on the pages)", "steps/s per running session (median, min-max)",
                   "sessions that trained", "seen queued",
                   "Start → first step on the page (p50 / max)", "runs finished", "exceptions"],
                  [[fmt(r.steps_total / r.window_s if r.window_s else None, "", 0),
                    f"{fmt(pct(rates, 50), '', 0)} ({fmt(min(rates, default=None), '', 0)}-"
                    f"{fmt(max(rates, default=None), '', 0)})",
                    f"{r.sessions_ran}/{r.sessions}", str(r.sessions_queued),
                    f"{fmt(pct(r.first_step_s, 50), ' s', 1)} / "
                    f"{fmt(max(r.first_step_s, default=None), ' s', 1)}",
                    str(r.runs_ended), str(len(r.exceptions))]])
    res = r.resources
    order = [("baseline", "baseline (after warm-up)"), ("idle", f"{r.sessions} sessions open, idle"),
             ("train_peak", "training (peak)"), ("closed", "just closed"),
             ("after_grace", "after grace"), ("after_ttl", "after session TTL + 1 visitor")]
    mem = table(["server", "RSS MB", "threads"],
                [[label, fmt(res[k]["rss_mb"], "", 0), str(int(res[k]["threads"]))]
                 for k, label in order if res.get(k)])
    back = (f"the training and script threads were gone {fmt(r.threads_back_s, ' s', 1)} after closing "
            f"(threads within {THREAD_SLACK} of the idle count)" if r.threads_back_s is not None
            else "threads did **not** come back to the idle count in time")
    polls = (f"Fragment reruns: {r.reruns_sent / r.window_s:,.0f}/s requested, "
             f"{r.fragment_runs / r.window_s:,.0f}/s served (4 per second per polling page asked)"
             + (f"; whole-page runs {r.full_runs / r.window_s:,.1f}/s" if r.full_runs else "")
             + (f"; what-if: {variant(r)}" if variant(r) else ""))
    return (f"{head}\n{pages}\n\n{train}\n\n{mem}\n\n{polls}. Idle session: {idle_mb:.1f} MB "
            f"each; {back}."
            + (f"\n\nErrors: {'; '.join(r.errors)}" if r.errors else "")
            + (f"\n\nExceptions on pages: {'; '.join(r.exceptions)}" if r.exceptions else "") + "\n")


def _pair(r: Result, p: float) -> str:
    """Health latency percentile while pages load / while training, in ms."""
    def one(phase: str) -> str:
        v = pct(r.health.get(phase, []), p) if p < 100 else max(r.health.get(phase, []), default=None)
        return fmt(v * 1000 if v is not None else None, " ms", 0)
    return f"{one('open')} / {one('train')}"


SOAK_HEADERS = ("wave", "loaded", "load p95", "health max", "steps/s", "trained", "peak RSS MB",
                "RSS after TTL MB", "threads after grace / TTL", "threads gone in", "load avg")


def soak_markdown(r: Result) -> str:
    """The per-wave table of a soak."""
    base = r.resources["baseline"]
    rows = [wave_cells(i + 1, w) for i, w in enumerate(r.waves)]
    return (f"### Soak: {len(r.waves)} waves of {r.sessions} sessions\n\n"
            f"`{r.command}` — {r.date}; each wave opens {r.sessions} sessions at once, trains "
            f"{r.seconds:g} s ({r.epochs}-epoch runs, Start again when one ends), closes them, "
            f"waits out the grace ({r.session_grace:g} s) and the session TTL ({r.session_ttl} s). "
            f"Baseline after warm-up: {base['rss_mb']:.0f} MB, {int(base['threads'])} threads. "
            f"Load average before / after: {r.load_avg_before:.2f} / {r.load_avg_after:.2f}.\n\n"
            + table(SOAK_HEADERS, rows) + "\n")


def wave_cells(n: int, w: dict) -> list[str]:
    """One soak wave as table cells."""
    health = w["health_max"] * 1000 if w["health_max"] is not None else None
    return [str(n), f"{w['loaded']}/{w['sessions']}", fmt(w["load_p95"], " s"), fmt(health, " ms", 0),
            fmt(w["steps_per_s"], "", 0), f"{w['ran']}/{w['sessions']}", fmt(w["peak_rss_mb"], "", 0),
            fmt(w["rss_after_mb"], "", 0),
            f"{int(w['threads_after'])} / {fmt(w.get('threads_after_ttl'), '', 0)}",
            fmt(w["threads_back_s"], " s", 1), f"{w['load_avg']:.1f}"]


def markdown(r: Result) -> str:
    """The block for one run (load or soak)."""
    return soak_markdown(r) if r.waves else run_markdown(r)


def block_name(r: Result) -> str:
    """The key a run's block is stored under in the docs: one per session count, one soak."""
    if r.waves:
        return "soak"
    suffix = (("_whatif" if r.queued_poll else "") + (f"_gate{r.max_page_runs}" if r.max_page_runs else "")
              + ("_gc" if r.default_gc else ""))
    return f"{r.sessions:03d}" + suffix


def replace_between(text: str, start: str, end: str, body: str) -> str:
    """Replace (or append) what lies between two markers."""
    block = f"{start}\n{body.strip()}\n{end}"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        return head + block + rest.split(end, 1)[1]
    return text.rstrip("\n") + "\n\n" + block + "\n"


def stored_runs(section: str) -> dict[str, Result]:
    """The runs already in the docs' load section (their numbers are kept there as JSON)."""
    pattern = re.compile(r"<!-- load/(\w+):start -->\n.*?<!-- data (.*?) -->\n<!-- load/\1:end -->",
                         re.S)
    return {name: Result(**_renamed(json.loads(data.replace("- -", "--"))))
            for name, data in pattern.findall(section)}


def _renamed(data: dict) -> dict:
    """Runs stored before the worker pool counted training slots (`max_trainings`): then, as now,
    the number of trainings that could step at once."""
    if "max_trainings" in data:
        data["workers"] = data.pop("max_trainings")
    return data


def block(r: Result) -> str:
    """A run's markdown plus its numbers as JSON (so every write re-renders every run)."""
    data = json.dumps(rounded(asdict(r)), separators=(",", ":")).replace("--", "- -")
    return f"{markdown(r)}\n<!-- data {data} -->"


def rounded(value: object) -> object:
    """Floats to 4 decimals, all the way down (the JSON stays small)."""
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value


SUMMARY_HEADERS = ("date", "sessions", "variant", "loaded", "load p50", "load p95", "health p95 (train)",
                   "health p99", "health max", "first step p50 / max", "steps/s seen on pages",
                   "trained", "peak RSS MB", "idle MB/session",
                   "threads base → peak → after grace → after TTL", "RSS MB base → after TTL",
                   "load avg")


def summary_markdown(runs: dict[str, dict]) -> str:
    """One row per stored load run (the soak has its own table)."""
    rows = [summary_row(runs[k]) for k in sorted(runs) if k != "soak" and runs[k]]
    return table(SUMMARY_HEADERS, rows) + "\n"


def summary_row(d: dict) -> list[str]:
    """The headline numbers of one stored run."""
    res, n = d["resources"], d["sessions"]
    health = d["health"].get("open", []) + d["health"].get("train", [])
    after = res.get("after_ttl") or {}
    threads = [res["baseline"]["threads"], res["train_peak"]["threads"],
               res["after_grace"]["threads"], after.get("threads")]
    return [d.get("date", ""), str(n), f"what-if: {variant(d)}" if variant(d) else "app",
            f"{d['loaded']}/{n}", fmt(pct(d["load_s"], 50), " s"), fmt(pct(d["load_s"], 95), " s"),
            fmt(pct(d["health"].get("train", []), 95), " s"), fmt(pct(health, 99), " s"),
            fmt(max(health, default=None), " s"),
            (f"{fmt(pct(d['first_step_s'], 50), ' s', 1)} / {fmt(max(d['first_step_s']), ' s', 1)}"
             if d.get("first_step_s") else "—"),
            fmt(d["steps_total"] / d["window_s"] if d["window_s"] else None, "", 0),
            f"{d['sessions_ran']}/{n}", fmt(res["train_peak"]["rss_mb"], "", 0),
            fmt((res["idle"]["rss_mb"] - res["baseline"]["rss_mb"]) / n, "", 1),
            " → ".join(fmt(t, "", 0) for t in threads),
            f"{res['baseline']['rss_mb']:.0f} → {fmt(after.get('rss_mb'), '', 0)}",
            f"{d['load_avg_before']:.1f}"]


def write(r: Result, path: Path = DOC) -> Path:
    """Store this run's block in the docs and regenerate the section's summary."""
    text = path.read_text() if path.exists() else "# Reliability\n"
    start, end = f"<!-- {SECTION}:start -->", f"<!-- {SECTION}:end -->"
    section = text.split(start, 1)[1].split(end, 1)[0] if start in text and end in text else ""
    runs = {**stored_runs(section), block_name(r): r}
    data = {name: asdict(run) for name, run in runs.items()}
    body = ("### Summary (one row per load run below)\n\n" + summary_markdown(data) + "\n"
            + "\n\n".join(f"<!-- load/{n}:start -->\n{block(runs[n]).strip()}\n<!-- load/{n}:end -->"
                          for n in sorted(runs)))
    path.write_text(replace_between(text, start, end, body))
    return path


# Command line ----------------------------------------------------------------------------------
def parse(argv: list[str] | None) -> tuple[argparse.Namespace, Options]:
    """Flags -> Options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sessions", type=int, default=10, help="concurrent sessions (per wave)")
    p.add_argument("--seconds", type=float, default=30.0, help="training window (per wave)")
    p.add_argument("--soak", type=float, default=0.0, metavar="MINUTES",
                   help="waves of sessions opening and closing for this long")
    p.add_argument("--epochs", type=int, default=400, help="epochs per run (the app's default: 400)")
    p.add_argument("--think", type=float, default=1.0, help="pause before pressing Start again")
    p.add_argument("--workers", type=int, default=2, help="PLAYGROUND_WORKERS")
    p.add_argument("--session-grace", type=float, default=2.0, help="PLAYGROUND_SESSION_GRACE")
    p.add_argument("--session-ttl", type=int, default=5,
                   help="server.disconnectedSessionTTL (Streamlit's default is 120)")
    p.add_argument("--max-steps", type=int, help="PLAYGROUND_MAX_STEPS")
    p.add_argument("--max-seconds", type=float, help="PLAYGROUND_MAX_SECONDS")
    p.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    p.add_argument("--queued-poll", type=float, metavar="SECONDS",
                   help="what-if, not the app: sessions poll this slowly while queued")
    p.add_argument("--max-page-runs", type=int, metavar="N",
                   help="what-if: PLAYGROUND_MAX_PAGE_RUNS (1000 turns the page gate off)")
    p.add_argument("--default-gc", action="store_true",
                   help="what-if: runner.postScriptGC on and no gc.freeze() (Streamlit's defaults)")
    p.add_argument("--quick", action="store_true", help="3 sessions, 5 s: a smoke run")
    p.add_argument("--write", action="store_true", help="update docs/reliability.md")
    args = p.parse_args(argv)
    if args.quick and args.write:
        p.error("--quick numbers are meaningless; refusing to --write them")
    sessions, seconds = (3, 5.0) if args.quick else (args.sessions, args.seconds)
    opts = Options(sessions=sessions, seconds=seconds, soak_minutes=args.soak, epochs=args.epochs,
                   think=args.think, workers=args.workers,
                   session_grace=args.session_grace, session_ttl=args.session_ttl,
                   max_steps=args.max_steps, max_seconds=args.max_seconds, port=args.port,
                   queued_poll=args.queued_poll, max_page_runs=args.max_page_runs,
                   default_gc=args.default_gc)
    return args, opts


def main(argv: list[str] | None = None) -> int:
    """Run once (or soak), print the tables, optionally write them."""
    args, opts = parse(argv)
    print(f"{platform.node()}: {os.cpu_count()} CPUs, load average {load_avg():.2f}; "
          f"{opts.sessions} sessions", file=sys.stderr, flush=True)
    result = soak(opts) if opts.soak_minutes > 0 else measure(opts)
    print(markdown(result))
    if args.write:
        print(f"wrote {write(result)}", file=sys.stderr)
    return 0 if result.loaded == result.sessions or result.waves else 1


if __name__ == "__main__":
    raise SystemExit(main())
