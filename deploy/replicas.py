"""App replicas behind nginx with sticky sessions, on loopback: the compose setup, run and checked.

    python deploy/replicas.py                        # 2 replicas, 4 sessions, 3 reconnects each
    python deploy/replicas.py --replicas 3 --sessions 6
    python deploy/replicas.py --print-config         # the loopback nginx.conf it would run

It starts N `python -m streamlit run app.py --server.port P --server.headless true` processes on
free loopback ports (benchmarks/load.py's start_server), renders deploy/nginx.conf for them (only
the upstream's server lines, the listen address and the pid/log/temp paths change; see `render`)
and runs Debian's nginx on it (`nginx -p TMP -c TMP/nginx.conf -g 'daemon off;'`, everything in a
temp dir). Once /_stcore/health answers through the proxy, it acts as several browser tabs that
follow the link `?epochs=100000&pace=0&model=mlp`, speaking Streamlit's websocket protocol with
benchmarks/load.py's Session plus what a browser adds: a cookie jar (the proxy's route cookie and
Streamlit's XSRF cookie) and the Host and Origin of a site, `playground.test`, that is not
loopback to Streamlit, so its same-origin check is what admits the websocket. Each tab presses
Start and then, a few times, does what a tab does after a network blip: drops its websocket,
reconnects through the proxy with its session id, asks for a rerun and reads the status line; and
it PUTs a small file to /_stcore/upload_file/<its session id>/..., which only the replica that holds
the session accepts. (Reruns over one open websocket prove nothing about stickiness: that TCP
connection stays with one replica whatever the proxy does. Every new connection, a reconnect or an
HTTP request, is where a proxy without affinity sends a tab elsewhere.)

Two checks, both required for exit status 0:

1. sessions landed on every replica (nginx's access log: `$upstream_addr` of each request, next to
   the route id it hashed on). Tabs are opened until each replica has one (at most --max-sessions).
2. every session kept its run: all its requests went to one replica, its session id survived every
   reconnect, its status line kept counting up (running or queued for a turn, step higher each
   time) and every upload was accepted (204; a replica that does not hold the session answers 400,
   a failed XSRF check 403).

Then, as controls, the same replicas behind two other proxies rendered from the same file: plain
round-robin (no affinity), where a tab's uploads and reconnects land on the wrong replica, and
`ip_hash`, where every tab comes from one address (a class behind one NAT) and lands on one replica.
The controls must show those failures, or the checks above would prove nothing.

Every process is stopped in a `finally`, also on error; every wait has a deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import websockets  # noqa: E402
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg  # noqa: E402
from streamlit.web.server.starlette.starlette_server_config import XSRF_COOKIE_NAME  # noqa: E402

from benchmarks import load  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TEMPLATE = HERE / "nginx.conf"
NGINX = "/usr/sbin/nginx"  # Debian's package (apt-get install nginx); also looked up on PATH
ROUTE_COOKIE = "playground_route"
SITE = "playground.test"  # the name the tabs give the proxy (they connect to 127.0.0.1)
QUERY = "epochs=100000&pace=0&model=mlp"  # long runs at full speed: still running at the end
BALANCES = ("cookie", "round-robin", "ip-hash")  # cookie: deploy/nginx.conf as shipped
# A kept run is training or waiting its turn: with more runs than workers they take turns.
ALIVE = frozenset({"running", "queued"})
STATUS_WAIT_S = 5.0  # after a reconnect's rerun, how long to wait for the first status line
LOG_RE = re.compile(r'"(?P<request>[^"]*)" (?P<status>\d{3}) \d+ route=(?P<route>\S*) '
                    r'upstream=(?P<upstream>.*?) rt=')


# The proxy -------------------------------------------------------------------------------------
def find_nginx() -> str | None:
    """The nginx binary: Debian's, or the first on PATH."""
    return NGINX if Path(NGINX).exists() else shutil.which("nginx")


def _sub(pattern: str, repl: str, text: str, count: int = 1) -> str:
    """re.sub that insists the template still has the shape this renderer expects."""
    new, n = re.subn(pattern, lambda _: repl, text, flags=re.M)
    if n != count:
        raise ValueError(f"deploy/nginx.conf: expected {count} match(es) of {pattern!r}, found {n}")
    return new


def render(template: str, upstreams: Sequence[str], listen: str, prefix: Path,
           balance: str = "cookie") -> str:
    """deploy/nginx.conf for loopback: the upstream's server lines for `upstreams`, `listen` for
    port 80, one worker (the round-robin control relies on one), and the pid file, logs and temp
    directories under `prefix`. Everything else (the cookie, the hash, the headers, the timeouts)
    is the file compose runs. `balance` swaps the hash line for a control: "round-robin" (no
    affinity) or "ip-hash"."""
    if balance not in BALANCES:
        raise ValueError(f"balance must be one of {BALANCES}, not {balance!r}")
    block = re.search(r"^    upstream playground \{\n(.*?)^    \}", template, flags=re.M | re.S)
    if block is None:
        raise ValueError("deploy/nginx.conf: no `upstream playground { ... }` block")
    body = block.group(1)
    servers = re.findall(r"^(\s*)server \S+( [^;]*)?;\n", body, flags=re.M)
    if not servers:
        raise ValueError("deploy/nginx.conf: the upstream has no server lines")
    indent, params = servers[0]
    lines = "".join(f"{indent}server {addr}{params};\n" for addr in upstreams)
    body = re.sub(r"^\s*server \S+( [^;]*)?;\n", "", body, flags=re.M)
    hashing = re.search(r"^(\s*)hash \$playground_route consistent;$", body, flags=re.M)
    if hashing is None:
        raise ValueError("deploy/nginx.conf: the upstream has no `hash $playground_route consistent;`")
    swap = {"cookie": hashing.group(0),
            "round-robin": f"{hashing.group(1)}# round-robin: no affinity (a control)",
            "ip-hash": f"{hashing.group(1)}ip_hash;  # by client address (a control)"}[balance]
    body = body[:hashing.start()] + swap + body[hashing.end():]
    text = template[:block.start(1)] + body + lines + template[block.end(1):]
    temp = "".join(f"    {kind}_temp_path {prefix / kind};\n"
                   for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    text = _sub(r"^worker_processes .*;$", "worker_processes 1;", text)
    text = _sub(r"^pid .*;$", f"pid {prefix / 'nginx.pid'};", text)
    text = _sub(r"^error_log \S+", f"error_log {prefix / 'error.log'}", text)
    text = _sub(r"access_log \S+ playground;", f"access_log {prefix / 'access.log'} playground;", text)
    text = _sub(r"^        listen 80;$", f"        listen {listen};", text)
    return _sub(r"^http \{\n", "http {\n" + temp, text)


@dataclass
class Proxy:
    """An nginx started by this script, with its config, logs and temp files in `prefix`."""

    proc: subprocess.Popen
    port: int
    prefix: Path
    balance: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def access_log(self) -> Path:
        return self.prefix / "access.log"

    def error_log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def start_proxy(upstreams: Sequence[str], prefix: Path, balance: str = "cookie",
                timeout: float = 30.0) -> Proxy:
    """Render deploy/nginx.conf into `prefix`, test it (`nginx -t`), start nginx in the foreground
    and wait until /_stcore/health answers through it."""
    nginx = find_nginx()
    if nginx is None:
        raise RuntimeError(f"nginx not found at {NGINX} or on PATH (apt-get install nginx)")
    prefix.mkdir(parents=True, exist_ok=True)
    port = load.free_port()
    conf = prefix / "nginx.conf"
    conf.write_text(render(TEMPLATE.read_text(), upstreams, f"127.0.0.1:{port}", prefix, balance))
    args = [nginx, "-p", f"{prefix}/", "-c", str(conf), "-e", str(prefix / "error.log")]
    test = subprocess.run([*args, "-t"], capture_output=True, text=True, timeout=30)
    if test.returncode != 0:
        raise RuntimeError(f"nginx -t failed for {conf}:\n{test.stderr}")
    proc = subprocess.Popen([*args, "-g", "daemon off;"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    proxy = Proxy(proc, port, prefix, balance)
    healthy = load.wait_for(lambda: proc.poll() is not None
                            or load.health_latency(proxy.url, 2.0) is not None, timeout)
    if proc.poll() is not None or not healthy:
        stop(proc)
        raise RuntimeError(f"nginx ({balance}) not healthy after {timeout:g} s:\n{proxy.error_log()}")
    return proxy


def stop(proc: subprocess.Popen) -> None:
    """Terminate, then kill if it will not go (nginx: TERM is a fast shutdown)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@dataclass(frozen=True)
class LogLine:
    """One request in the proxy's access log."""

    request: str
    status: int
    route: str
    upstream: str  # the replica that answered (the last address when nginx retried)

    @property
    def websocket(self) -> bool:
        return self.status == 101


def read_log(path: Path) -> list[LogLine]:
    """The proxy's access log (the `playground` log_format of deploy/nginx.conf)."""
    lines = []
    for line in path.read_text(errors="replace").splitlines() if path.exists() else []:
        m = LOG_RE.search(line)
        if m:
            upstream = m["upstream"].split(",")[-1].strip()
            lines.append(LogLine(m["request"], int(m["status"]), m["route"], upstream))
    return lines


# The replicas ----------------------------------------------------------------------------------
def app_options(workers: int = 2) -> load.Options:
    """The app as load.py starts it, with the app's own session grace and Streamlit's session TTL
    (a reconnect must find its session); its worker processes take turns among the tabs."""
    return load.Options(workers=workers, session_grace=30.0, session_ttl=120, load_timeout=60.0)


def start_replicas(n: int, opts: load.Options) -> list[load.Server]:
    """N app processes started at once, each waited for until healthy; none left on failure."""
    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        futures = [pool.submit(load.start_server, opts) for _ in range(n)]
        concurrent.futures.wait(futures)
    servers = [f.result() for f in futures if f.exception() is None]
    errors = [f.exception() for f in futures if f.exception() is not None]
    if errors:
        stop_replicas(servers)
        raise RuntimeError(f"{len(errors)} of {n} replicas did not start: {errors[0]}")
    return servers


def stop_replicas(servers: Sequence[load.Server]) -> None:
    for server in servers:
        load.stop_server(server)


# One browser tab -------------------------------------------------------------------------------
class Tab(load.Session):
    """load.Session as a browser drives it through a proxy: cookies, a site's Host and Origin,
    the session id it is given, and reconnects that offer that id back (as the frontend does)."""

    def __init__(self, index: int, port: int, opts: load.Options, query: str = QUERY) -> None:
        super().__init__(index, port, opts, query)
        self.cookies: dict[str, str] = {}
        self.session_id = ""
        self.body = b""  # the last HTTP response's body
        self.session_ids: list[str] = []  # every id the server gave this tab, in order
        self.full_runs = 0  # full script runs that ran to the end (not fragment runs)
        self.requests = 0  # HTTP requests and websockets this tab sent through the proxy
        self.closed = ""  # why the server closed the current websocket ("" while it is open)
        self._run_began = False  # a full run began on the current websocket

    @property
    def index(self) -> int:
        return self.log.index

    @property
    def site(self) -> str:
        return f"{SITE}:{self.port}"

    @property
    def route(self) -> str:
        return self.cookies.get(ROUTE_COOKIE, "")

    async def _connect(self) -> None:
        """The page's requests, then its websocket and the first run (load.Session.open)."""
        for path in ("/", "/_stcore/health", "/_stcore/host-config"):
            status = await self.http("GET", path)
            if status != 200:
                raise RuntimeError(f"GET {path} answered {status}")
        await self._socket()

    async def _socket(self) -> None:
        """Open the websocket with the cookies, the XSRF token and (on a reconnect) the session id
        in its subprotocols, the way the frontend does; then ask for a full run."""
        protocols = ["streamlit", self.cookies.get(XSRF_COOKIE_NAME, "")]
        if self.session_id:
            protocols.append(self.session_id)
        self.requests += 1
        self.closed, self._run_began = "", False
        self.ws = await websockets.connect(
            f"ws://{self.site}/_stcore/stream", host="127.0.0.1", port=self.port, proxy=None,
            subprotocols=[p for p in protocols if p], origin=f"http://{self.site}",
            additional_headers={"Cookie": self._cookie_header()}, max_size=None,
            open_timeout=30, ping_interval=None)
        self._reader = asyncio.create_task(self._read())
        await self.ws.send(load.rerun_msg(self.query))

    async def reconnect(self, timeout: float) -> None:
        """A network blip: the websocket goes, the page checks health and opens a new one through
        the proxy offering its session id, and reruns; returns when that full run has finished."""
        await self.drop_socket()
        runs, self.state = self.full_runs, ""
        status = await self.http("GET", "/_stcore/health")
        if status != 200:
            raise RuntimeError(f"GET /_stcore/health answered {status}")
        await self._socket()
        await _until(lambda: self.full_runs > runs or self.closed, timeout, "the rerun after a reconnect")
        if self.closed:
            raise RuntimeError(self.closed)

    async def _read(self) -> None:
        """load.Session's reader; a socket the server closes is noted (and ends a page load
        that is waiting for it, with an error, instead of letting it run into its timeout)."""
        await super()._read()
        assert self.ws is not None
        self.closed = f"the server closed the websocket ({self.ws.close_code} {self.ws.close_reason})"
        if not self.loaded.is_set():
            self.log.error = self.closed
            self.loaded.set()

    async def start(self, timeout: float) -> None:
        """Press Start and wait until the status line shows the run stepping."""
        await self.click_start()
        await _until(lambda: self.state == "running" and self.last_step > 0, timeout,
                     f"tab {self.index}'s run to start")

    async def upload(self) -> int:
        """PUT a small file for this session, as st.file_uploader does (XSRF header included):
        204 from the replica that holds the session, 400 from another, 403 without a valid XSRF."""
        boundary = uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                f"filename=\"probe.txt\"\r\nContent-Type: text/plain\r\n\r\nprobe\r\n"
                f"--{boundary}--\r\n").encode()
        return await self.http(
            "PUT", f"/_stcore/upload_file/{self.session_id}/{uuid.uuid4().hex}", body,
            {"Content-Type": f"multipart/form-data; boundary={boundary}",
             "X-Xsrftoken": self.cookies.get(XSRF_COOKIE_NAME, ""), "Origin": f"http://{self.site}"})

    async def http(self, method: str, path: str, body: bytes = b"",
                   headers: dict[str, str] | None = None, timeout: float = 30.0) -> int:
        """One HTTP/1.1 request through the proxy with this tab's cookies; keeps the cookies the
        response sets; returns the status."""
        async def go() -> int:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            head = {"Host": self.site, "Connection": "close", **(headers or {})}
            if self.cookies:
                head["Cookie"] = self._cookie_header()
            if body or method in ("PUT", "POST"):
                head["Content-Length"] = str(len(body))
            lines = [f"{method} {path} HTTP/1.1", *(f"{k}: {v}" for k, v in head.items())]
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
            await writer.drain()
            data = await reader.read()
            writer.close()
            self.body = data.partition(b"\r\n\r\n")[2]
            return self._response(data)
        self.requests += 1
        return await asyncio.wait_for(go(), timeout)

    async def get_json(self, path: str) -> tuple[int, dict]:
        """A GET through the proxy with this tab's cookies and its JSON body (the live stream's
        polls: a browser's fetch carries the route cookie, so they reach the session's replica)."""
        status = await self.http("GET", path)
        return status, json.loads(self.body) if self.body.strip() else {}

    def _response(self, data: bytes) -> int:
        """The status of a raw response; its Set-Cookie headers go into the jar."""
        head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        if not head or not head[0].startswith("HTTP/"):
            return 0
        for line in head[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "set-cookie":
                key, _, val = value.strip().split(";", 1)[0].partition("=")
                self.cookies[key.strip()] = val.strip()
        return int(head[0].split(" ", 2)[1])

    def _cookie_header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def _handle(self, msg: ForwardMsg) -> None:
        """load.Session's handling, plus the session id of every new run and a count of full runs."""
        kind = msg.WhichOneof("type")
        full = not msg.metadata.run.fragment_ids
        if kind == "new_session":
            self._run_began |= full
            if msg.new_session.initialize.session_id:
                self.session_id = msg.new_session.initialize.session_id
                if not self.session_ids or self.session_ids[-1] != self.session_id:
                    self.session_ids.append(self.session_id)
        elif (kind == "script_finished" and full and self._run_began
              and msg.script_finished == ForwardMsg.FINISHED_SUCCESSFULLY):
            # A full run that began on this socket and ran to the end (a resumed session may
            # first deliver the end of a run from before the reconnect; a run cut short by a
            # rerun draws no status line).
            self.full_runs += 1
        super()._handle(msg)


async def _until(pred, timeout: float, what: str) -> None:
    """Poll pred on the event loop until it holds; TimeoutError naming `what` past the deadline."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.05)


# What each tab saw -----------------------------------------------------------------------------
@dataclass
class TabResult:
    """One tab's story: where its requests went and what it saw after every reconnect."""

    index: int
    proxy: str  # the balance of the proxy it went through
    route: str
    replicas: list[str] = field(default_factory=list)  # labels of the replicas that answered it
    requests: int = 0  # requests nginx logged for its route
    websockets: int = 0
    session_ids: list[str] = field(default_factory=list)
    steps: list[int | None] = field(default_factory=list)  # at Start, then after each reconnect
    states: list[str] = field(default_factory=list)
    uploads: list[int] = field(default_factory=list)
    error: str = ""

    @property
    def one_replica(self) -> bool:
        return len(self.replicas) == 1

    @property
    def same_session(self) -> bool:
        return len(self.session_ids) == 1

    @property
    def counting_up(self) -> bool:
        """Alive at every look (running, or queued for its turn on a worker), with a step higher
        than the look before."""
        steps = self.steps
        return (len(steps) >= 2 and all(s in ALIVE for s in self.states)
                and all(a is not None and b is not None and b > a for a, b in itertools.pairwise(steps)))

    @property
    def uploads_ok(self) -> bool:
        return bool(self.uploads) and all(s == 204 for s in self.uploads)

    @property
    def kept(self) -> bool:
        """Every check of stickiness this tab can make."""
        return (not self.error and self.one_replica and self.same_session and self.counting_up
                and self.uploads_ok)


@dataclass
class Report:
    """The demo's results: the sticky proxy's tabs and replicas, and the controls."""

    replicas: dict[str, str]  # label -> loopback address
    tabs: list[TabResult] = field(default_factory=list)
    controls: list[TabResult] = field(default_factory=list)
    extra_tabs: int = 0  # tabs opened beyond --sessions until every replica had one
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)  # phase -> seconds
    load_avg: float = 0.0  # the machine's 1-minute load average when it started

    def sessions_on(self, label: str) -> int:
        return sum(1 for t in self.tabs if label in t.replicas)

    @property
    def landed_on_all(self) -> bool:
        return all(self.sessions_on(label) for label in self.replicas)

    @property
    def all_kept(self) -> bool:
        return bool(self.tabs) and all(t.kept for t in self.tabs)

    @property
    def controls_failed_as_expected(self) -> bool:
        """Round-robin loses sessions (uploads or reconnects on the wrong replica); ip_hash puts
        every tab of one address on one replica."""
        rr = [t for t in self.controls if t.proxy == "round-robin"]
        ip = [t for t in self.controls if t.proxy == "ip-hash"]
        return ((not rr or all(not t.kept and not t.error for t in rr))
                and (not ip or len({r for t in ip for r in t.replicas}) == 1))

    @property
    def ok(self) -> bool:
        return self.landed_on_all and self.all_kept and self.controls_failed_as_expected


# The demo --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Demo:
    """What to run: replicas, tabs, reconnects per tab, and whether to run the controls."""

    replicas: int = 2
    sessions: int = 4
    max_sessions: int = 12
    rounds: int = 3
    controls: bool = True
    timeout: float = 30.0  # seconds any single wait may take
    query: str = QUERY
    keep: bool = True  # keep nginx's dir and the replicas' logs for a look when something failed


def run(demo: Demo = Demo()) -> Report:
    """Start the replicas and the proxy, drive the tabs, read the log, stop everything."""
    return asyncio.run(run_async(demo))


async def run_async(demo: Demo) -> Report:
    t0 = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="playground-replicas-"))
    os.chmod(tmp, 0o711)  # nginx's workers (nobody, when started as root) reach their temp dirs
    servers: list[load.Server] = []
    proxies: list[Proxy] = []
    ok = False
    try:
        servers = await asyncio.to_thread(start_replicas, demo.replicas,
                                          app_options())
        started = time.monotonic()
        upstreams = [f"127.0.0.1:{s.port}" for s in servers]
        labels = {addr: f"app{i + 1}" for i, addr in enumerate(upstreams)}
        report = Report(replicas={label: addr for addr, label in labels.items()},
                        load_avg=load.load_avg())
        report.timings["replicas healthy"] = started - t0
        proxy = await asyncio.to_thread(start_proxy, upstreams, tmp / "cookie")
        proxies.append(proxy)
        report.tabs, report.extra_tabs = await sticky_tabs(proxy, labels, demo, report.timings)
        controls = time.monotonic()
        if demo.controls:
            for balance, tabs, rounds in (("round-robin", 1, 2), ("ip-hash", 2, 0)):
                control = await asyncio.to_thread(start_proxy, upstreams, tmp / balance, balance)
                proxies.append(control)
                report.controls += await drive(control, labels, demo, tabs, rounds)
            report.timings["controls"] = time.monotonic() - controls
        report.seconds = time.monotonic() - t0
        ok = report.ok
        return report
    finally:
        for p in proxies:
            stop(p.proc)
        stop_replicas(servers)
        if ok or not demo.keep:
            shutil.rmtree(tmp, ignore_errors=True)
            for s in servers:
                s.log.unlink(missing_ok=True)
        else:
            logs = ", ".join(str(s.log) for s in servers)
            print(f"kept for a look: {tmp} (nginx), {logs or 'no'} (replicas)", file=sys.stderr)


async def sticky_tabs(proxy: Proxy, labels: dict[str, str], demo: Demo,
                      timings: dict[str, float]) -> tuple[list[TabResult], int]:
    """Open --sessions tabs through the sticky proxy, then more, one at a time, until every
    replica has one (at most --max-sessions); all of them press Start and reconnect."""
    opts = app_options()
    tabs = [Tab(i + 1, proxy.port, opts, demo.query) for i in range(demo.sessions)]
    t0 = time.monotonic()
    try:
        await asyncio.gather(*(t.open() for t in tabs))
        while (len(landed(proxy, tabs, labels)) < len(labels) and len(tabs) < demo.max_sessions
               and not any(t.log.error for t in tabs)):
            tabs.append(Tab(len(tabs) + 1, proxy.port, opts, demo.query))
            await tabs[-1].open()
        timings["tabs loaded (first page load of a replica: torch warm-up)"] = time.monotonic() - t0
        return (await exercise(proxy, labels, tabs, demo, demo.rounds, timings),
                len(tabs) - demo.sessions)
    finally:
        await load.close_all(tabs)


def landed(proxy: Proxy, tabs: Sequence[Tab], labels: dict[str, str]) -> set[str]:
    """The replicas that answered these tabs' requests so far."""
    routes = {t.route for t in tabs}
    return {labels.get(line.upstream, line.upstream) for line in read_log(proxy.access_log)
            if line.route in routes}


async def drive(proxy: Proxy, labels: dict[str, str], demo: Demo, n: int,
                rounds: int) -> list[TabResult]:
    """n tabs through one proxy: open, and (with rounds) Start and reconnect; then the results."""
    opts = app_options()
    tabs = [Tab(i + 1, proxy.port, opts, demo.query) for i in range(n)]
    try:
        await asyncio.gather(*(t.open() for t in tabs))
        if rounds:
            return await exercise(proxy, labels, tabs, demo, rounds)
    finally:
        await load.close_all(tabs)
    return await results(proxy, labels, tabs, {t.index: TabResult(t.index, proxy.balance, t.route)
                                               for t in tabs})


async def exercise(proxy: Proxy, labels: dict[str, str], tabs: Sequence[Tab], demo: Demo,
                   rounds: int, timings: dict[str, float] | None = None) -> list[TabResult]:
    """Every tab presses Start; then `rounds` times, all tabs at once: reconnect and rerun, read
    the step, upload. A tab that fails is a result (its check fails), not a crash."""
    out = {t.index: TabResult(t.index, proxy.balance, t.route, error=t.log.error) for t in tabs}

    async def start(tab: Tab, r: TabResult) -> None:
        await tab.start(demo.timeout)
        r.steps.append(tab.last_step)
        r.states.append(tab.state)

    async def again(tab: Tab, r: TabResult) -> None:
        before = tab.last_step
        await tab.reconnect(demo.timeout)
        # The rerun normally draws the status line; on a busy replica the live fragment may be the
        # first to draw it, so wait (briefly) for a status line before judging the run.
        with contextlib.suppress(TimeoutError):
            await _until(lambda: bool(tab.state), STATUS_WAIT_S, "a status line")
        if tab.state in ALIVE:  # give the run a moment (or a turn) to move on
            with contextlib.suppress(TimeoutError):
                await _until(lambda: tab.last_step > before, demo.timeout, "a higher step")
        r.states.append(tab.state or "(no status line)")
        r.steps.append(tab.last_step if tab.state in ALIVE else None)
        r.uploads.append(await tab.upload())

    async def each(step: Callable[[Tab, TabResult], Awaitable[None]]) -> None:
        async def guarded(tab: Tab) -> None:
            r = out[tab.index]
            if not r.error:
                try:
                    await step(tab, r)
                except Exception as exc:
                    r.error = f"{type(exc).__name__}: {exc}"[:200]
        await asyncio.gather(*(guarded(t) for t in tabs))

    t0 = time.monotonic()
    await each(start)
    t1 = time.monotonic()
    for _ in range(rounds):
        await each(again)
    if timings is not None:
        timings.update({"Start until running": t1 - t0,
                        f"{rounds} reconnect rounds": time.monotonic() - t1})
    await load.close_all(tabs)
    return await results(proxy, labels, tabs, out)


async def results(proxy: Proxy, labels: dict[str, str], tabs: Sequence[Tab],
                  out: dict[int, TabResult]) -> list[TabResult]:
    """Fold the access log into the tabs' results. nginx logs a websocket when it closes, so
    this waits (bounded) until every websocket the tabs opened is in the log."""
    sent = sum(t.requests for t in tabs)
    routes = {t.route for t in tabs}

    def logged() -> list[LogLine]:
        return [line for line in read_log(proxy.access_log) if line.route in routes]

    with contextlib.suppress(TimeoutError):
        await _until(lambda: len(logged()) >= sent, 10.0, "the access log")
    lines = logged()
    for t in tabs:
        r = out[t.index]
        mine = [line for line in lines if line.route == t.route]
        r.replicas = sorted({labels.get(line.upstream, line.upstream) for line in mine})
        r.requests = len(mine)
        r.websockets = sum(1 for line in mine if line.websocket)
        r.session_ids = list(t.session_ids)
    return [out[t.index] for t in tabs]


# Reporting -------------------------------------------------------------------------------------
def _steps(steps: Sequence[int | None], states: Sequence[str]) -> str:
    """The step at each look; a look that found no live run says what it found instead."""
    looks = [f"{s:,}" if s is not None else f"lost ({state})"
             for s, state in zip(steps, states, strict=False)]
    return " → ".join(looks) or "—"


def _uploads(codes: Sequence[int]) -> str:
    return ", ".join(str(c) for c in codes) or "—"


def tab_rows(tabs: Sequence[TabResult]) -> list[list[str]]:
    return [[str(t.index), t.route[:8] or "—", ", ".join(t.replicas) or "—",
             f"{t.requests} / {t.websockets}",
             "yes" if t.same_session else f"no ({len(t.session_ids)} ids)",
             _steps(t.steps, t.states), _uploads(t.uploads),
             _verdict(t)] for t in tabs]


def _verdict(t: TabResult) -> str:
    if t.error:
        return f"error: {t.error}"
    if not t.steps:
        return "(page load only)"
    return "kept" if t.kept else "lost"


TAB_HEADERS = ("tab", "route cookie", "replica", "requests / websockets", "same session id",
               "step at Start → after each reconnect", "uploads", "run")


def markdown(r: Report) -> str:
    """The tables the script prints (and docs/deploy.md shows)."""
    replicas = load.table(["replica", "address", "tabs", "requests", "websockets"], [
        [label, addr, str(r.sessions_on(label)),
         str(sum(t.requests for t in r.tabs if t.replicas == [label])),
         str(sum(t.websockets for t in r.tabs if t.replicas == [label]))]
        for label, addr in r.replicas.items()])
    extra = (f" ({r.extra_tabs} opened beyond the first ones until every replica had a tab)"
             if r.extra_tabs else "")
    out = [f"Sticky proxy (deploy/nginx.conf, cookie affinity): {len(r.tabs)} tabs{extra}.", "",
           replicas, "", load.table(TAB_HEADERS, tab_rows(r.tabs)), ""]
    if r.controls:
        out += ["Controls (the same replicas, the hash line swapped):", "",
                load.table(("proxy", *TAB_HEADERS), [[t.proxy, *row] for t, row in
                                                     zip(r.controls, tab_rows(r.controls), strict=True)]), ""]
    verdict = [f"sessions landed on every replica: {'yes' if r.landed_on_all else 'NO'}",
               f"every session kept its run across reconnects and reruns: "
               f"{'yes' if r.all_kept else 'NO'}"]
    if r.controls:
        verdict.append("controls: round-robin lost the sessions, ip_hash put one address on one "
                       f"replica: {'yes' if r.controls_failed_as_expected else 'NO'}")
    took = " · ".join(f"{name} {sec:.0f} s" for name, sec in r.timings.items())
    return "\n".join(out + verdict + [f"{r.seconds:.0f} s in all ({took}); load average "
                                      f"{r.load_avg:.1f} on {os.cpu_count()} CPUs"]) + "\n"


# Command line ----------------------------------------------------------------------------------
def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--replicas", type=int, default=Demo.replicas, help="app processes")
    p.add_argument("--sessions", type=int, default=Demo.sessions, help="tabs opened at first")
    p.add_argument("--max-sessions", type=int, default=Demo.max_sessions,
                   help="tabs at most, while some replica has none")
    p.add_argument("--rounds", type=int, default=Demo.rounds, help="reconnects per tab")
    p.add_argument("--query", default=QUERY, help=f"the link the tabs follow (default: {QUERY})")
    p.add_argument("--no-controls", action="store_true", help="skip the round-robin and ip_hash controls")
    p.add_argument("--print-config", action="store_true",
                   help="print the loopback nginx.conf for --replicas apps on 8501, 8502, ... and exit")
    return p.parse_args(argv)


@contextlib.contextmanager
def _quiet_interrupt() -> Iterator[None]:
    try:
        yield
    except KeyboardInterrupt:
        print("interrupted; everything started was stopped", file=sys.stderr)
        raise SystemExit(130) from None


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.print_config:
        upstreams = [f"127.0.0.1:{8501 + i}" for i in range(args.replicas)]
        print(render(TEMPLATE.read_text(), upstreams, "127.0.0.1:8080", Path("/tmp/playground-nginx")),
              end="")
        return 0
    demo = Demo(replicas=args.replicas, sessions=args.sessions,
                max_sessions=max(args.max_sessions, args.sessions), rounds=args.rounds,
                controls=not args.no_controls, query=args.query)
    with _quiet_interrupt():
        report = run(demo)
    print(markdown(report), end="")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
