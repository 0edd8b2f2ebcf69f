"""How fast is a 2-D path? `train()` on the paths lesson against the bare torch loop on one point.

A path of 10,000 steps (Rosenbrock, Adam and SGD with momentum) run headless by the engine (history
row, gradient norm, best point, the x/y probe per step) and by the textbook loop over a bare
`nn.Parameter`, alternating so drift hits both; medians of CPU time. Then the page's side: the
cost of one refresh of the map for a 10,000-step path (thinning plus the cached spec filled).

    python benchmarks/paths.py            # about a minute on an idle box
    python benchmarks/paths.py --write    # ... and update docs/benchmarks.md
    python benchmarks/paths.py --quick    # smoke run (numbers meaningless)
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import torch  # noqa: E402

from benchmarks.common import (  # noqa: E402
    CLOCKS,
    bench_parser,
    command,
    interleaved,
    load,
    markdown_table,
    median_rate,
    parse_checked,
    write_section,
)
from playground import RunConfig, configure_torch, train  # noqa: E402
from playground.charts import paths as path_charts  # noqa: E402
from playground.lessons.path_map import map_spec  # noqa: E402
from playground.optim import OPTIMIZERS  # noqa: E402
from playground.surfaces import value  # noqa: E402

STEPS = 10_000
CASES = {"adam lr=0.01": {"optimizer": "adam", "lr": 0.01},
         "sgd lr=2e-4 momentum=0.9": {"optimizer": "sgd", "lr": 2e-4, "momentum": 0.9}}


def bare(cfg: RunConfig) -> None:
    """The textbook loop on one point: zero_grad, f(x, y), backward, step."""
    p = torch.nn.Parameter(torch.tensor([cfg.start_x, cfg.start_y], dtype=torch.float64))
    optimizer = OPTIMIZERS[cfg.optimizer].make([p], cfg)
    for _ in range(cfg.epochs):
        optimizer.zero_grad()
        loss = value(cfg, p[0], p[1])
        loss.backward()
        loss.item()
        optimizer.step()


def refresh_ms(history, rounds: int) -> float:
    """Median milliseconds of one page refresh's map work for this history."""
    cfg = RunConfig(task="paths", surface="rosenbrock")
    spec = map_spec(cfg.surface, cfg.condition, cfg.rotation, ("adam",), 440)
    times = []
    for i in range(rounds):
        t0 = time.perf_counter()
        path_charts.fill(spec, path_charts.path_frame({"adam": history}), None, f"-{i}")
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    args = parse_checked(bench_parser(__doc__, "a few hundred steps, once"), argv)
    configure_torch()
    steps, rounds = (300, 1) if args.quick else (STEPS, 3)
    rows = []
    history = None
    for name, changes in CASES.items():
        cfg = RunConfig(task="paths", surface="rosenbrock", epochs=steps, **changes)
        train(cfg.replace(epochs=20))  # warm-up
        seconds = interleaved({"engine": lambda c=cfg: train(c), "bare": lambda c=cfg: bare(c)},
                              rounds, CLOCKS["cpu"])
        engine, plain = median_rate(steps, seconds["engine"]), median_rate(steps, seconds["bare"])
        rows.append((name, engine, plain, round(engine / plain, 2)))
        history = history if history is not None else train(cfg).history
    table = markdown_table(["path (Rosenbrock)", "engine steps/s", "bare loop steps/s",
                            "engine/bare"], rows)
    ms = refresh_ms(history, 5 if args.quick else 30)
    body = (f"## Paths lesson: a 2-D step\n\n`{command()}` (load {load()}): {steps:,}-step paths, "
            f"median of {rounds} interleaved runs, CPU time.\n\n{table}\n\nOne page refresh of the "
            f"map for a {len(history):,}-step path (thinned to {path_charts.MAX_POINTS:,} points, "
            f"the contour spec cached): {ms:.1f} ms.")
    print(body)
    if args.write:
        print("wrote", write_section("paths", body))


if __name__ == "__main__":
    main()
