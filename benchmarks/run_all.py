"""Every benchmark in one command: each script runs as its own process, one after another, with
`--write`, so docs/benchmarks.md and docs/reliability.md are regenerated; then a summary.

    python benchmarks/run_all.py                 # everything, docs rewritten (roughly 20-30 minutes)
    python benchmarks/run_all.py --quick         # every script's smoke mode, docs untouched (~2 min)
    python benchmarks/run_all.py --only load     # just some of them (repeatable)

Sequential on purpose: two benchmarks at once would share the CPU and each measure the other.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CHROMIUM = Path("/usr/bin/chromium")
HELPERS = {"__init__.py", "common.py", "run_all.py"}


@dataclass(frozen=True)
class Bench:
    """One script: its arguments for a full (written) run and for a smoke run."""

    name: str
    full: tuple[str, ...]
    quick: tuple[str, ...]
    doc: str
    needs: Path | None = None  # a program without which the script cannot run

    @property
    def script(self) -> Path:
        """The script's path."""
        return HERE / f"{self.name}.py"


BENCHES = (
    Bench("engine_vs_bare", ("--write",), ("--quick",), "docs/benchmarks.md"),
    Bench("race_vs_sequential", ("--write",), ("--quick",), "docs/benchmarks.md"),
    Bench("charts", ("--write",), ("--quick",), "docs/benchmarks.md"),
    Bench("memory", ("--write",), ("--quick",), "docs/benchmarks.md"),
    # No smoke flag: a 1 s sampling window per config is its quick mode (and nothing is written).
    Bench("app_vs_headless", ("--write",), ("--seconds", "1"), "docs/benchmarks.md", CHROMIUM),
    Bench("live_refresh", ("--write",), ("--refresh", "0.25", "--seconds", "1", "--rounds", "1"),
          "docs/benchmarks.md",
          CHROMIUM),
    Bench("load", ("--sessions", "10", "--seconds", "30", "--write"), ("--quick",),
          "docs/reliability.md"),
)


@dataclass(frozen=True)
class Outcome:
    """How one script's run went."""

    name: str
    command: str
    status: str  # ok, failed (rc N), timed out, skipped (why)
    seconds: float


def run(bench: Bench, quick: bool, timeout: float) -> Outcome:
    """Run one script in its own process (its output goes straight to this terminal)."""
    args = bench.quick if quick else bench.full
    cmd = [sys.executable, str(bench.script.relative_to(ROOT)), *args]
    shown = " ".join(["python", *cmd[1:]])
    if bench.needs is not None and not bench.needs.exists():
        return Outcome(bench.name, shown, f"skipped ({bench.needs} missing)", 0.0)
    print(f"\n=== {shown}  (load average {load():.2f})", flush=True)
    t0 = time.monotonic()
    try:
        rc = subprocess.run(cmd, cwd=ROOT, timeout=timeout).returncode
    except subprocess.TimeoutExpired:
        return Outcome(bench.name, shown, f"timed out after {timeout:g} s", time.monotonic() - t0)
    return Outcome(bench.name, shown, "ok" if rc == 0 else f"failed (rc {rc})", time.monotonic() - t0)


def load() -> float:
    """The 1-minute load average: other work on the machine skews every number."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def unlisted() -> list[str]:
    """Benchmark scripts in benchmarks/ that this runner does not know about yet."""
    known = {f"{b.name}.py" for b in BENCHES} | HELPERS
    return sorted(p.name for p in HERE.glob("*.py") if p.name not in known)


def summary(outcomes: list[Outcome], quick: bool) -> str:
    """A table of what ran, how long it took and where its numbers went."""
    docs = {b.name: b.doc for b in BENCHES}
    lines = [f"{'benchmark':<20} {'status':<28} {'time':>8}  written to", "-" * 78]
    for o in outcomes:
        where = "(not written: --quick)" if quick else docs[o.name] if o.status == "ok" else ""
        lines.append(f"{o.name:<20} {o.status:<28} {o.seconds:>7.0f}s  {where}")
    return "\n".join(lines)


def parse(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="each script's smoke mode; nothing is written to the docs")
    p.add_argument("--only", action="append", choices=[b.name for b in BENCHES],
                   help="run just this benchmark (repeatable)")
    p.add_argument("--timeout", type=float, default=3600, help="seconds any one script may take")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks in order; non-zero if any failed."""
    args = parse(argv)
    chosen = [b for b in BENCHES if not args.only or b.name in args.only]
    outcomes = [run(b, args.quick, args.timeout) for b in chosen]
    print("\n" + summary(outcomes, args.quick))
    extra = unlisted()
    if extra:
        print(f"\nnot run (add them to BENCHES in benchmarks/run_all.py): {', '.join(extra)}")
    failed = [o for o in outcomes if o.status.startswith(("failed", "timed out"))]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
