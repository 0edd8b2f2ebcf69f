"""What the live view's redraw rate costs a run when Chromium shares the machine.

For each `PLAYGROUND_LIVE_REFRESH` value a fresh server is started; a headless Chromium on this
machine watches each config train at full speed (as `app_vs_headless.py` does) while the CPU time
of every process is read from /proc (Linux; elsewhere those columns are empty). Right after each
in-app window the same config steps headless in a fresh process, so both see the machine alike.

    python benchmarks/live_refresh.py                    # 0.25, 0.5 and 1 s, printed
    python benchmarks/live_refresh.py --write            # ... and recorded in docs/benchmarks.md
    python benchmarks/live_refresh.py --refresh 0.25 2   # other intervals
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from benchmarks.app_vs_headless import (  # noqa: E402
    CONFIGS,
    headless_rate,
    screen_rate,
    started,
    watched_server,
)
from benchmarks.common import command, load, machine, markdown_table, write_section  # noqa: E402

KINDS = {"renderer": "Chromium's renderer", "other": "Chromium's other processes",
         "server": "the Streamlit server", "worker": "the workers"}


def cpu_seconds() -> dict[str, float] | None:
    """CPU seconds so far of every process of interest, by kind (None without /proc)."""
    if not Path("/proc/self/stat").exists():
        return None
    tick, out = os.sysconf("SC_CLK_TCK"), dict.fromkeys(KINDS, 0.0)
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        kind = ("renderer" if "chrom" in cmd and "--type=renderer" in cmd else "other" if "chrom" in cmd
                else "worker" if "multiprocessing" in cmd else "server" if "streamlit run" in cmd else None)
        if kind:
            out[kind] += (int(fields[11]) + int(fields[12])) / tick
    return out


def watch(page, port: int, cfg, seconds: float) -> tuple[float, dict[str, float] | None, float]:
    """(steps/s on screen, cores each kind of process used, redraws/s) while Chromium watches."""
    with started(page, port, cfg):
        before, t0 = cpu_seconds(), time.monotonic()
        rate, redraws = screen_rate(page, seconds)
        after, t1 = cpu_seconds(), time.monotonic()
    cores = None if before is None else {k: (after[k] - before[k]) / (t1 - t0) for k in KINDS}
    return rate, cores, redraws / (t1 - t0)


def measure(refreshes: list[float], seconds: float) -> list[tuple]:
    """One server per interval; every config watched, then stepped headless."""
    rows = []
    for refresh in refreshes:
        with watched_server({"PLAYGROUND_LIVE_REFRESH": str(refresh)}) as (port, browser):
            for name, cfg in CONFIGS.items():
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                rate, cores, redraws = watch(page, port, cfg, seconds)
                page.close()
                bare = headless_rate(cfg, seconds)
                rows.append((refresh, name, bare, rate, cores, redraws))
                print(f"refresh {refresh:g} s, {name}: {rate:,.0f} of {bare:,.0f} steps/s "
                      f"({rate / bare:.2f}), {redraws:.1f} redraws/s, cores {cores}", flush=True)
    return rows


def table(rows: list[tuple]) -> str:
    """One row per interval and config."""
    def core(cores: dict[str, float] | None, kind: str) -> str:
        return "" if cores is None else f"{cores[kind]:.2f}"

    return markdown_table(
        ("refresh", "config", "redraws/s seen", "headless steps/s", "in-app steps/s", "in-app / headless",
         *(f"cores: {label}" for label in KINDS.values())),
        [(f"{refresh:g} s", name, f"{redraws:.1f}", f"{bare:,.0f}", f"{rate:,.0f}", f"{rate / bare:.2f}",
          *(core(cores, kind) for kind in KINDS))
         for refresh, name, bare, rate, cores, redraws in rows])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--refresh", type=float, nargs="+", default=[0.25, 0.5, 1.0],
                    help="PLAYGROUND_LIVE_REFRESH values to compare (seconds)")
    ap.add_argument("--seconds", type=float, default=6.0, help="sampling window per config")
    ap.add_argument("--write", action="store_true", help="record in docs/benchmarks.md")
    args = ap.parse_args()
    before = load()
    rows = measure(args.refresh, args.seconds)
    body = "\n".join([
        "## The live refresh rate: what redrawing costs a run, Chromium on the same machine", "",
        f"Command: `{command()}` · {machine()} · load before: {before} · {args.seconds:g} s per "
        "window", "",
        "Each config trains at full speed in the app while a headless Chromium on this machine "
        "watches it, with the server started at each `PLAYGROUND_LIVE_REFRESH`; then the same "
        "config steps headless in a fresh process (every run with one torch thread). Cores: CPU "
        "seconds per second of each kind of process during the in-app window, from /proc. "
        "Redraws/s seen: distinct status lines the page showed.", "",
        table(rows),
    ])
    print(body)
    if args.write:
        print(f"written to {write_section('live_refresh', body)}", file=sys.stderr)


if __name__ == "__main__":
    main()
