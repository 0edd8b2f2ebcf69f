"""Do trainings scale with cores now that they run in worker processes? Steps per second of one run
alone against two runs at once, on a pool of two workers, through the same Runner the page uses.

Goal (issue 12): two runs at once deliver at least 1.7x the total steps/s of one run, for the
learnable-pixels model and the coordinate MLP (two threads of one process managed about 0.65x).

    python benchmarks/pool_scaling.py            # the table, about a minute on an idle box
    python benchmarks/pool_scaling.py --write    # ... and update docs/benchmarks.md
    python benchmarks/pool_scaling.py --quick    # short windows (numbers meaningless)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from benchmarks.common import (  # noqa: E402
    bench_parser,
    command,
    load,
    machine,
    markdown_table,
    parse_checked,
    write_section,
)
from playground import RunConfig  # noqa: E402
from playground.serve import Limits, MemoryBudget, Pool, Runner  # noqa: E402

CONFIGS = {
    "pixels 16px sgd": RunConfig(model="pixels", optimizer="sgd", lr=0.01, epochs=10**6, pace=0),
    "coord 16px adam": RunConfig(model="coord", epochs=10**6, pace=0),
}
GOAL = 1.7


def rate(pool: Pool, cfg: RunConfig, runs: int, window: float) -> float:
    """Total steps per second of `runs` copies of cfg training at once, over `window` seconds."""
    runners = [Runner(Limits(), pool, MemoryBudget(256, 1536)) for _ in range(runs)]
    for r in runners:
        r.start(cfg)
    deadline = time.monotonic() + 60
    while any(r.snapshot().n_rows < 50 for r in runners) and time.monotonic() < deadline:
        time.sleep(0.05)  # a cadence for polling, as the page polls
    start = [r.snapshot().n_rows for r in runners]
    t0 = time.monotonic()
    time.sleep(window)  # the measurement window itself
    steps = sum(r.snapshot().n_rows - s for r, s in zip(runners, start, strict=True))
    seconds = time.monotonic() - t0
    for r in runners:
        r.stop(wait=True)
    return steps / seconds


def main(argv: list[str] | None = None) -> int:
    args = parse_checked(bench_parser(__doc__, "short windows"), argv)
    window = 1.0 if args.quick else 8.0
    before = load()
    pool = Pool(2, Limits(turn_seconds=3600))  # no turns: each run keeps its worker
    try:
        assert pool.wait_ready(180), "the worker pool did not start"
        rows = []
        for name, cfg in CONFIGS.items():
            one = rate(pool, cfg, 1, window)
            two = rate(pool, cfg, 2, window)
            rows.append((name, f"{one:,.0f}", f"{two:,.0f}", f"{two / one:.2f}x",
                         "yes" if two / one >= GOAL else "no"))
            print(f"{name}: one {one:,.0f}/s, two {two:,.0f}/s, {two / one:.2f}x", file=sys.stderr)
    finally:
        pool.close()
    body = "\n".join([
        "## Two trainings at once (worker processes)", "",
        f"Command: `{command()}` · {machine()} · load before: {before} · windows of {window:g} s", "",
        "Total optimizer steps per second of one run alone and of two runs at once, each on its own "
        "worker process (a pool of two), read through the same `Runner` the page uses. Goal: two "
        f"runs deliver at least {GOAL}x one run; in the threaded server they delivered about 0.65x "
        "for learnable pixels (design notes).", "",
        markdown_table(("config", "one run, steps/s", "two runs, steps/s (total)", "ratio",
                        f">= {GOAL}x"), rows),
    ])
    print(body)
    if args.write:
        print(f"written to {write_section('pool_scaling', body)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
