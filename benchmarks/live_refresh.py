"""What the live view's redraw rate costs a run when Chromium shares the machine.

For each `PLAYGROUND_LIVE_REFRESH` value a fresh server is started; a headless Chromium on this
machine watches each config train at full speed (as `app_vs_headless.py` does) while the CPU time
of every process is read from /proc (Linux; elsewhere those columns are empty). Right after each
in-app window the same config steps headless in a fresh process, so both see the machine alike,
in alternating rounds whose per-pair ratios give the median.

    python benchmarks/live_refresh.py                    # 0.25, 0.5 and 1 s, printed
    python benchmarks/live_refresh.py --write            # ... and recorded in docs/benchmarks.md
    python benchmarks/live_refresh.py --refresh 0.25 2   # other intervals
    python benchmarks/live_refresh.py --streams 1 0      # the stream against redraws by reruns
"""

from __future__ import annotations

import argparse
import os
import statistics
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


def measure(refreshes: list[float], seconds: float, rounds: int, streams: list[bool]) -> list[tuple]:
    """One server per interval (and stream setting); every config watched in the app and stepped
    headless in `rounds` alternating pairs: this machine's speed drifts by a fifth over minutes,
    so each in-app window is compared with the headless window right after it."""
    rows = []
    for stream in streams:
        for refresh in refreshes:
            env = {"PLAYGROUND_LIVE_REFRESH": str(refresh), "PLAYGROUND_LIVE_STREAM": str(int(stream))}
            with watched_server(env) as (port, browser):
                for name, cfg in CONFIGS.items():
                    pairs, cores, redraws = [], [], []
                    for _ in range(rounds):
                        page = browser.new_page(viewport={"width": 1400, "height": 1000})
                        rate, used, seen = watch(page, port, cfg, seconds)
                        page.close()
                        pairs.append((rate, headless_rate(cfg, seconds)))
                        cores.append(used)
                        redraws.append(seen)
                    row = (stream, refresh, name, pairs, _mean_cores(cores), statistics.median(redraws))
                    rows.append(row)
                    print(f"stream {int(stream)}, refresh {refresh:g} s, {name}: in-app / headless "
                          f"{[f'{a / b:.2f}' for a, b in pairs]}, {row[5]:.1f} redraws/s, "
                          f"cores {row[4]}", flush=True)
    return rows


def _mean_cores(cores: list[dict[str, float] | None]) -> dict[str, float] | None:
    """The cores each kind of process used, averaged over the rounds."""
    if any(c is None for c in cores):
        return None
    return {k: statistics.fmean(c[k] for c in cores) for k in KINDS}


def table(rows: list[tuple]) -> str:
    """One row per view, interval and config: medians over the rounds."""
    def core(cores: dict[str, float] | None, kind: str) -> str:
        return "" if cores is None else f"{cores[kind]:.2f}"

    return markdown_table(
        ("live view", "refresh", "config", "redraws/s seen", "headless steps/s", "in-app steps/s",
         "in-app / headless (median)", "every round", *(f"cores: {label}" for label in KINDS.values())),
        [("stream" if stream else "reruns", f"{refresh:g} s", name, f"{redraws:.1f}",
          f"{statistics.median(b for _, b in pairs):,.0f}", f"{statistics.median(a for a, _ in pairs):,.0f}",
          f"{statistics.median(a / b for a, b in pairs):.2f}", " ".join(f"{a / b:.2f}" for a, b in pairs),
          *(core(cores, kind) for kind in KINDS))
         for stream, refresh, name, pairs, cores, redraws in rows])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--refresh", type=float, nargs="+", default=[0.25, 0.5, 1.0],
                    help="PLAYGROUND_LIVE_REFRESH values to compare (seconds)")
    ap.add_argument("--seconds", type=float, default=5.0, help="sampling window per config")
    ap.add_argument("--rounds", type=int, default=3, help="alternating in-app/headless pairs per config")
    ap.add_argument("--streams", type=int, nargs="+", default=[1], choices=[0, 1],
                    help="PLAYGROUND_LIVE_STREAM values to compare (1: the stream, 0: reruns)")
    ap.add_argument("--write", action="store_true", help="record in docs/benchmarks.md")
    args = ap.parse_args()
    before = load()
    rows = measure(args.refresh, args.seconds, args.rounds, [bool(v) for v in args.streams])
    body = "\n".join([
        "## The live refresh rate: what redrawing costs a run, Chromium on the same machine", "",
        f"Command: `{command()}` · {machine()} · load before: {before} · {args.rounds} rounds of "
        f"{args.seconds:g} s windows per config", "",
        "Each config trains at full speed in the app while a headless Chromium on this machine "
        "watches it, with the server started at each `PLAYGROUND_LIVE_REFRESH` (and "
        "`PLAYGROUND_LIVE_STREAM`: the running view streamed, or redrawn by reruns); right after "
        "each in-app window the same config steps headless in a fresh process (every run with one "
        "torch thread), and the ratio is taken per pair, in-app then headless, over alternating "
        "rounds. Cores: CPU seconds per second of each kind of process during the in-app windows, "
        "from /proc. Redraws/s seen: distinct status lines the page showed.", "",
        table(rows),
    ])
    print(body)
    if args.write:
        print(f"written to {write_section('live_refresh', body)}", file=sys.stderr)


if __name__ == "__main__":
    main()
