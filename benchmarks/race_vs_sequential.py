"""Does a race pay? 8 contenders in one `race()` against the same 8 configs as sequential `train()` calls.

Each model races an Adam learning-rate sweep (8 log-spaced rates, none of which diverges, so both
sides do the same work) at 16 px. Both sides run in the same process on one torch thread, after a
warm-up, alternating race and sequential rounds so drift hits both; each side's median is kept.
Throughput is contender-steps per second (8 x steps per run / seconds), with `build()`, the race's
setup and the results' packaging included on both sides. Goals: pixels >= 3x, coord and conv >= 2x,
no model slower than sequential.

The latent MLP is raced as sequential Trainers by default (`race.STACKED_MODELS`), each taking
`race.CHUNK` steps in a row per `Race.advance`; the row "mlp (stacked)" measures what batching it
would give instead, and "mlp (lockstep)" its Trainers taking one step each in turn.

    python benchmarks/race_vs_sequential.py            # the table, about 2-4 minutes
    python benchmarks/race_vs_sequential.py --write    # ... and update docs/benchmarks.md
    python benchmarks/race_vs_sequential.py --quick    # smoke run in a few seconds (numbers meaningless)
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from benchmarks.common import (  # noqa: E402
    bench_parser,
    command,
    machine,
    markdown_table,
    median_rate,
    parse_checked,
    write_section,
)
from playground import RunConfig, configure_torch, train  # noqa: E402
from playground.compare.race import CHUNK, STACKED_MODELS, Race, race  # noqa: E402

K = 8
SIZE = 16
LRS = tuple(1e-4 * 10 ** (2 * i / (K - 1)) for i in range(K))  # 1e-4 ... 1e-2: none diverges
# (the conv decoder diverges under Adam from 1, the latent MLP from 0.25: see lr_regimes)
GOALS = {"pixels": 3.0, "coord": 2.0, "conv": 2.0, "mlp": 1.0}
CASES = (("pixels", "auto"), ("coord", "auto"), ("conv", "auto"), ("mlp", "auto"),
         ("mlp", "stacked"), ("mlp", "lockstep"))  # auto: race() as shipped


@dataclass(frozen=True)
class Plan:
    """How hard to measure: rounds per case and the seconds one sequential side should last."""

    rounds: int
    target_s: float
    quick: bool = False
    clock: str = "cpu"


FULL = Plan(rounds=5, target_s=2.0)
QUICK = Plan(rounds=1, target_s=0.0, quick=True)


CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}
CLOCK_NOTE = {"cpu": "CPU seconds of this process: the machine is shared, and with one torch "
                     "thread CPU time equals wall time when nothing else runs",
              "wall": "wall seconds"}


def timed(fn: Callable[[], object], clock: str) -> float:
    """Seconds of one call on the named clock."""
    t0 = CLOCKS[clock]()
    fn()
    return CLOCKS[clock]() - t0


def interleaved(runs: dict[str, Callable[[], object]], plan: Plan) -> dict[str, list[float]]:
    """common.interleaved on the plan's clock: alternate the order every round."""
    names = list(runs)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for r in range(plan.rounds):
        for name in names if r % 2 == 0 else reversed(names):
            seconds[name].append(timed(runs[name], plan.clock))
    return seconds


def sweep(model: str, epochs: int) -> list[RunConfig]:
    """The 8 contenders: Adam at 8 learning rates, same task."""
    return [RunConfig(model=model, size=SIZE, optimizer="adam", lr=lr, epochs=epochs) for lr in LRS]


def with_steps(model: str, steps: int) -> list[RunConfig]:
    """The sweep sized to about `steps` optimizer steps per contender (whole epochs)."""
    per_epoch = RunConfig(model=model, size=SIZE).batches_per_epoch
    return sweep(model, max(1, math.ceil(steps / per_epoch)))


def checked(results: list, configs: list[RunConfig], side: str) -> None:
    """A contender that stops early would time fewer steps: refuse the measurement."""
    for r, c in zip(results, configs, strict=True):
        if r.status != "completed" or r.steps != c.total_steps:
            raise RuntimeError(f"{side} {c.model} lr={c.lr:g}: {r.status} after {r.steps} steps")


def racing(configs: list[RunConfig], mode: str) -> Callable[[], None]:
    """The race side: `race()` as shipped, forced stacked, or its Trainers one step each in turn."""
    def run() -> None:
        if mode == "lockstep":
            contest = Race(configs)
            while not contest.done:
                contest.step()
            results = contest.results()
        else:
            results = race(configs, stacked=True if mode == "stacked" else None)
        checked(results, configs, "race")
    return run


def sequential(configs: list[RunConfig]) -> Callable[[], None]:
    def run() -> None:
        checked([train(c) for c in configs], configs, "sequential")
    return run


def sized(model: str, mode: str, plan: Plan) -> list[RunConfig]:
    """Warm up both sides, then size the runs so the sequential side lasts about plan.target_s."""
    if plan.quick:
        return with_steps(model, 4)
    probe = with_steps(model, 20)
    racing(probe, mode)()
    sequential(probe)()
    rate = K * probe[0].total_steps / timed(sequential(probe), plan.clock)
    return with_steps(model, min(20_000, max(20, round(rate * plan.target_s / K))))


def path(model: str, mode: str) -> str:
    """How the race ran the contenders."""
    if mode == "stacked" or (mode == "auto" and model in STACKED_MODELS):
        how = {"conv": "grouped conv by hand", "pixels": "by hand"}.get(model, "vmap")
        return f"stacked ({how}, 1 backward)"
    return "8 Trainers, one step each in turn" if mode == "lockstep" else \
        f"8 Trainers, {CHUNK} steps each in turn"


def row(model: str, mode: str, plan: Plan) -> tuple:
    """Median contender-steps/s of both sides on one model, their ratio and the goal."""
    configs = sized(model, mode, plan)
    seconds = interleaved({"race": racing(configs, mode), "sequential": sequential(configs)},
                          plan)
    work = K * configs[0].total_steps
    rate_race, rate_seq = (median_rate(work, seconds[k]) for k in ("race", "sequential"))
    ratio = rate_race / rate_seq
    label = model if mode == "auto" else f"{model} ({mode})"
    goal = GOALS[model] if mode == "auto" else None
    met = "-" if goal is None else ("yes" if ratio >= goal else "**no**")
    return (label, path(model, mode), configs[0].total_steps, rate_seq, rate_race, ratio,
            "-" if goal is None else f">= {goal:g}x", met)


NOTES = ("Why the latent MLP is not stacked: its step is bound by memory traffic, not Python "
         "overhead. Its output layer alone is a 64 x 1,024 matrix per contender (about 1 MB with its "
         "gradient and Adam state at 16 px), so one batched step over 8 of them moves as many bytes as "
         "8 small steps and saves little; design.md measured the stacked form at 0.7x, and the "
         "`mlp (stacked)` row shows what it gives here. Its contenders run as plain Trainers, each "
         f"taking {CHUNK} steps in a row per `Race.advance`: one step each in turn "
         "(`mlp (lockstep)`) lets the other 7 evict a contender's weights from cache between its "
         "steps. A UI that shows every step can still call `Race.step()`. The `mlp` row does the "
         "same work as sequential runs by construction, so it can only be about 1x: it measured "
         "0.96x to 1.06x over five runs when this was written (5 to 9 rounds each), a spread that is "
         "this shared 2-core machine's noise, as are the swings of the other rows between runs.")


HEADERS = ["model", "race path", "steps/run", "sequential steps/s", "race steps/s", "race/sequential",
           "goal", "met"]


def section(body: str, plan: Plan) -> str:
    """The docs section: what, how, on what, by which command, then the table."""
    return (f"## Race vs sequential runs\n\n{K} contenders (Adam, learning rates 1e-4 to 3e-2, "
            f"none diverges) at {SIZE} px: one `race(configs)` against {K} `train(config)` calls "
            "one after another. Steps/s count contender-steps (8 x steps per run / seconds); both "
            "sides include `build()`, the race's setup and packaging the results.\n\n"
            f"Method: 1 torch thread (`configure_torch(1)`), warm-up first, {plan.rounds} "
            f"interleaved rounds, median per side, timed on the `{plan.clock}` clock "
            f"({CLOCK_NOTE[plan.clock]}); runs sized so the sequential side lasts about "
            f"{plan.target_s} s.\n\n- Command: `{command()}`\n- Machine: {machine()}\n\n{body}\n\n"
            f"{NOTES}\n")


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = bench_parser(__doc__, "a few steps, one round: a smoke test")
    p.add_argument("--only", choices=sorted({m for m, _ in CASES}), help="one model only")
    p.add_argument("--rounds", type=int, default=FULL.rounds, help="interleaved rounds per row")
    p.add_argument("--seconds", type=float, default=FULL.target_s,
                   help="about how long the sequential side of one round lasts")
    p.add_argument("--clock", choices=sorted(CLOCKS), default="cpu",
                   help="cpu: this process's CPU seconds (robust on a shared machine; one torch "
                        "thread, so equal to wall time when idle); wall: perf_counter")
    return parse_checked(p, argv)


def main(argv: list[str] | None = None) -> int:
    """Print the table as markdown; with --write, put it in docs/benchmarks.md."""
    args = parse(argv)
    configure_torch(1)
    plan = QUICK if args.quick else Plan(rounds=args.rounds, target_s=args.seconds)
    plan = dataclasses.replace(plan, clock=args.clock)
    rows = []
    for model, mode in CASES:
        if args.only and model != args.only:
            continue
        rows.append(row(model, mode, plan))
        print(f"  {rows[-1][0]}: {rows[-1][5]:.2f}x", file=sys.stderr, flush=True)
    text = section(markdown_table(HEADERS, rows), plan)
    print(text)
    if args.write:
        print(f"wrote {write_section('race', text)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
