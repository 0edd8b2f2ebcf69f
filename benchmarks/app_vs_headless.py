"""Training speed inside the running app (a page polling it) vs the same config headless.

Two kinds of page poll the app: a real headless Chromium (on this machine, so it also takes CPU
from the server) and a protocol-level client from benchmarks/load.py that speaks Streamlit's
websocket protocol without rendering (the server's share alone, as when the browser runs on the
user's own machine). Also measures the time from pressing Start to the first loss point on
screen, on a freshly started server (the worst case: the first run after the server starts).

    python benchmarks/app_vs_headless.py            # prints a table
    python benchmarks/app_vs_headless.py --write    # and records it in docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import os
import platform
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playground.config import RunConfig  # noqa: E402

CONFIGS = {  # played at full speed (pace=0): the default pace would measure the pacing
    "coord 16px adam (default model)": RunConfig(epochs=1_000_000, pace=0),
    "mlp 16px adam": RunConfig(model="mlp", epochs=1_000_000, pace=0),
    "pixels 32px sgd": RunConfig(model="pixels", size=32, optimizer="sgd", lr=0.1, epochs=1_000_000,
                                 pace=0),
    "conv 32px adam": RunConfig(model="conv", size=32, epochs=1_000_000, pace=0),
}
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
HEADLESS = """
import sys, time, json
from playground.config import RunConfig
from playground.engine import Trainer
from playground.warmup import configure_torch, warm_up
configure_torch(1); warm_up()
cfg = RunConfig.from_json(sys.argv[1]); seconds = float(sys.argv[2])
t = Trainer(cfg)
for _ in range(50): t.step()
n0, t0 = t.step_count, time.perf_counter()
while time.perf_counter() - t0 < seconds: t.step()
print((t.step_count - n0) / (time.perf_counter() - t0))
"""


def headless_rate(cfg: RunConfig, seconds: float) -> float:
    """Steps per second of the bare Trainer loop in a fresh process (one torch thread)."""
    out = subprocess.run([sys.executable, "-c", HEADLESS, cfg.to_json(), str(seconds)], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, env: dict[str, str] | None = None) -> subprocess.Popen:
    """The app as users run it, with the repo's .streamlit/config.toml (and `env`'s variables)."""
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py",
                             "--server.port", str(port), "--server.headless", "true"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, **(env or {})})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1)
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not become healthy")


async def protocol_rate(port: int, cfg: RunConfig, seconds: float) -> tuple[float, float]:
    """(Start → first step shown, steps/s) with a protocol-level client answering the reruns."""
    from benchmarks.load import Options, Session

    query = "&".join(f"{k}={v}" for k, v in cfg.to_query().items())
    page = Session(0, port, Options(sessions=1, seconds=seconds), query)
    await page.open()
    try:
        t_click = time.monotonic()
        await page.click_start()
        await until(lambda: page.last_step > 0, 30)
        first_point = time.monotonic() - t_click
        await asyncio.sleep(1.5)  # the same settling time as the browser side
        s0, t0 = page.last_step, page.last_step_t  # each step stamped when it arrived: a step
        await asyncio.sleep(seconds)  # read at the window's ends would be up to a redraw old
        s1, t1 = page.last_step, page.last_step_t
        await page.click("stop")
        await until(lambda: page.state == "stopped", 30)
    finally:
        await page.close()
    return first_point, (s1 - s0) / (t1 - t0)


def in_thread(coro):
    """asyncio.run in a thread of its own (Playwright's sync API owns this thread's loop)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def until(pred, timeout: float) -> None:
    """Poll a condition set by the client's reader task, failing after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise TimeoutError("the page did not get there in time")
        await asyncio.sleep(0.02)


RECORD = """window.__lines = []; setInterval(() => {
  const line = document.getElementsByClassName('pp-status')[0];
  for (const el of line ? [line] : document.querySelectorAll('[data-testid=stMarkdownContainer]')) {
    const m = /step ([0-9,]+) \\//.exec(el.textContent);
    if (m) { const n = +m[1].replace(/,/g, ''), last = window.__lines.at(-1);
             if (!last || last[1] !== n) window.__lines.push([performance.now(), n]); break; } }
}, 20)"""  # every new step the status line shows (the stream's own line first), stamped when it
# appeared (within 20 ms)


FIRST = """() => { window.__first = null; let t0 = null;
  const start = [...document.querySelectorAll('button')].find((b) => b.textContent.includes('Start'));
  start.addEventListener('click', () => { t0 = performance.now(); }, { capture: true, once: true });
  const iv = setInterval(() => {
    if (t0 === null) return;
    for (const el of document.querySelectorAll('.pp-status, [data-testid=stMarkdownContainer]'))
      if (/step [0-9,]+ \\//.test(el.textContent)) {
        window.__first = performance.now() - t0; clearInterval(iv); return; } }, 5); }"""
# the click to the first status line with a step, stamped in the page (a locator's wait polls
# at up to 100 ms, and Playwright's round trips add their own)


def screen_rate(page, seconds: float) -> tuple[float, int]:
    """(steps/s, redraws) from the first to the last new step the page showed in `seconds`: a
    step read once at each end of the window would be up to a whole redraw interval old."""
    page.evaluate("window.__lines = []")
    page.wait_for_timeout(seconds * 1000)
    lines = page.evaluate("window.__lines")
    if len(lines) < 2:
        raise RuntimeError(f"the page showed {len(lines)} new steps in {seconds:g} s")
    (t0, s0), (t1, s1) = lines[0], lines[-1]
    return (s1 - s0) / ((t1 - t0) / 1000), len(lines) - 1


@contextlib.contextmanager
def started(page, port: int, cfg: RunConfig):
    """Open the page on `cfg`, press Start and yield the seconds from the click to the first point
    on screen, once the run has settled (every new step is being stamped: `screen_rate`); Stop
    after."""
    query = "&".join(f"{k}={v}" for k, v in cfg.to_query().items())
    page.goto(f"http://127.0.0.1:{port}/?{query}")
    start = page.get_by_role("button", name="▶ Start")
    start.wait_for(timeout=60_000)
    page.evaluate(FIRST)
    start.click()
    page.wait_for_function("window.__first !== null", timeout=30_000)
    first_point = page.evaluate("window.__first") / 1000
    page.evaluate(RECORD)
    page.wait_for_timeout(1500)  # let the run settle before sampling
    try:
        yield first_point
    finally:
        page.get_by_test_id("stMainBlockContainer").get_by_role("button", name="Stop", exact=True).click()
        # until the page shows it: a tab closed right after the click can lose it, and the run
        # then trains on through its grace, beside the next measurement
        page.locator("text=/stopped · step/").first.wait_for(timeout=30_000)


def app_rate(page, port: int, cfg: RunConfig, seconds: float) -> tuple[float, float]:
    """(seconds from Start to the first point on screen, steps/s while the page polls)."""
    with started(page, port, cfg) as first_point:
        rate, _ = screen_rate(page, seconds)
    return first_point, rate


Row = tuple[str, float, float, float, float, float]  # name, headless, browser, first, protocol, first


@contextlib.contextmanager
def watched_server(env: dict[str, str] | None = None):
    """A fresh app server (with `env`'s variables) and a headless Chromium on this machine to
    watch it: yields (port, browser) and closes both after."""
    from playwright.sync_api import sync_playwright

    port = free_port()
    server = start_server(port, env)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            try:
                yield port, browser
            finally:
                browser.close()
    finally:
        server.terminate()
        server.wait(10)


def measure(seconds: float) -> list[Row]:
    """For every config: headless rate, then in-app rate and first point with each kind of page."""
    rows = []
    with watched_server() as (port, browser):
        for name, cfg in CONFIGS.items():
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            first, in_app = app_rate(page, port, cfg, seconds)
            page.close()
            p_first, p_rate = in_thread(protocol_rate(port, cfg, seconds))
            bare = headless_rate(cfg, seconds)
            rows.append((name, bare, in_app, first, p_rate, p_first))
            print(f"{name}: headless {bare:.0f}/s, browser {in_app:.0f}/s ({in_app / bare:.2f}), "
                  f"protocol {p_rate:.0f}/s ({p_rate / bare:.2f}), first point {first:.2f}s",
                  flush=True)
    return rows


def table(rows: list[Row]) -> str:
    """One row per config: both kinds of page against headless."""
    lines = ["| config | headless steps/s | browser page steps/s | browser / headless | "
             "protocol page steps/s | protocol / headless | Start → first point (browser / protocol) |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, bare, in_app, first, p_rate, p_first in rows:
        lines.append(f"| {name} | {bare:,.0f} | {in_app:,.0f} | {in_app / bare:.2f} | {p_rate:,.0f} | "
                     f"{p_rate / bare:.2f} | {first:.2f} s / {p_first:.2f} s |")
    return "\n".join(lines)


def write(md: str) -> None:
    """Replace this benchmark's section of docs/benchmarks.md."""
    path = ROOT / "docs" / "benchmarks.md"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    start, end = "<!-- app_vs_headless:start -->", "<!-- app_vs_headless:end -->"
    block = f"{start}\n{md}\n{end}"
    if start in text:
        text = text[:text.index(start)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=4.0, help="sampling window per config")
    ap.add_argument("--write", action="store_true", help="record in docs/benchmarks.md")
    args = ap.parse_args()
    load_before = os.getloadavg()[0]
    rows = measure(args.seconds)
    md = (f"## Training inside the app vs headless\n\n"
          f"`python benchmarks/app_vs_headless.py --write` — {platform.machine()}, "
          f"{os.cpu_count()} cores, Python {platform.python_version()}, one torch thread per run. "
          f"Each config runs twice in the app: once watched by a headless Chromium on this machine "
          f"(4 redraws/s, streamed: playground/ui/stream.py; it draws on the same 2 cores), then "
          f"by a protocol-level client that polls the same stream without drawing "
          f"(benchmarks/load.py's Session: the server's share alone, as with a browser on the "
          f"user's own machine). The headless rate is the same config stepped in a fresh process. "
          f"Start → first point is stamped in the page (the click, then the first status line "
          f"with a step, polled every 5 ms); the first config's is the first Start after the "
          f"server started. Load average "
          f"before: {load_before:.2f} on {os.cpu_count()} CPUs.\n\n{table(rows)}\n")
    print(md)
    if args.write:
        write(md)


if __name__ == "__main__":
    main()
