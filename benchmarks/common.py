"""Helpers the benchmarks share: interleaved timing, markdown tables, and the docs file they update.

Each benchmark owns one section of docs/benchmarks.md between `<!-- NAME:start -->` and
`<!-- NAME:end -->` markers, so re-running one benchmark never touches another's numbers.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
HEADER = """# Benchmarks

Numbers measured by the scripts in `benchmarks/`. Each section below is written by one script with
`--write` and names the exact command, machine and torch version that produced it; re-run that
command to refresh it. First written on: {machine}.
"""


def machine() -> str:
    """One line naming the machine and stack, so numbers from different hosts are not mixed up."""
    cpu = _cpu_model() or platform.processor() or platform.machine()
    return (f"{cpu}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, torch {torch.__version__}, "
            f"{torch.get_num_threads()} torch thread(s)")


def _cpu_model() -> str:
    """The CPU's marketing name on Linux (platform.processor() is often empty there)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""
    match = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else ""


def command() -> str:
    """The command line that ran this script, as a reader would retype it from the repo root."""
    script = Path(sys.argv[0]).resolve()
    with contextlib.suppress(ValueError):  # a script outside the repo keeps its full path
        script = script.relative_to(ROOT)
    return " ".join(["python", str(script), *sys.argv[1:]])


Clock = Callable[[], float]
CLOCKS: dict[str, Clock] = {
    # CPU seconds of this process: equal to wall time on an idle machine with one torch thread,
    # but not inflated while other processes hold the CPU (a shared 2-core box often is busy).
    "cpu": time.process_time,
    "wall": time.perf_counter,
}


def timed(fn: Callable[[], object], clock: Clock = time.perf_counter) -> float:
    """Seconds of one call on the given clock."""
    t0 = clock()
    fn()
    return clock() - t0


def interleaved(runs: dict[str, Callable[[], object]], rounds: int,
                clock: Clock = time.perf_counter) -> dict[str, list[float]]:
    """Seconds per call of each contender, alternating the order every round so drift hits all."""
    names = list(runs)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else reversed(names):
            seconds[name].append(timed(runs[name], clock))
    return seconds


def load() -> str:
    """The 1-minute load average over the CPU count: above ~0.5 other work shared the machine."""
    try:
        return f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"
    except OSError:  # not on every platform
        return "unknown"


def median_rate(work: int, seconds: Sequence[float]) -> float:
    """Units of work per second of the median run: robust to one run hit by a noisy neighbour."""
    return work / statistics.median(seconds)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub markdown table; numbers right-aligned as the headers' `:` say."""
    align = ["---:" if isinstance(v, int | float) else "---" for v in rows[0]] if rows else []
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _cell(value: object) -> str:
    """Floats get digits for their size: 3 significant-ish places without scientific notation."""
    if isinstance(value, float):
        return f"{value:.2f}" if abs(value) < 10 else f"{value:,.0f}"
    return str(value)


def write_section(name: str, body: str, path: Path = DOC) -> Path:
    """Replace (or append) the section between NAME's markers; create the file with a header."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{body.strip()}\n{end}"
    text = path.read_text() if path.exists() else HEADER.format(machine=machine())
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def bench_parser(doc: str | None, quick_help: str) -> argparse.ArgumentParser:
    """The flags every benchmark shares: --quick (a smoke run) and --write (update the docs)."""
    p = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help=quick_help)
    p.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    return p


def parse_checked(p: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse, refusing to write a smoke run's numbers into the docs."""
    args = p.parse_args(argv)
    if args.quick and args.write:
        p.error("--quick numbers are meaningless; refusing to --write them")
    return args
