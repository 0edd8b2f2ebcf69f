"""What a landscape's trajectory costs: recording weight snapshots in the worker against replaying
the run, and what one loss evaluation of the landscape costs.

For a few models, a run of the config's own length: the bytes of one snapshot (flattened weights),
the seconds `weights_now` takes (median of 20), how many GIF steps the run passes (one snapshot
each) and what the budget keeps, against the CPU seconds of the run itself, which is what a replay
of it would cost every time a landscape is asked for (before any live LR change, restored
checkpoint or by-line step it would also have to repeat). Then the median milliseconds of one loss
evaluation over the run's training data and the seconds of a 21 x 21 map.

    python benchmarks/landscape.py            # about a minute on an idle box
    python benchmarks/landscape.py --write    # ... and update docs/benchmarks.md
    python benchmarks/landscape.py --quick    # smoke run (numbers meaningless)
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from benchmarks.common import (  # noqa: E402
    bench_parser,
    command,
    load,
    markdown_table,
    parse_checked,
    write_section,
)
from playground import RunConfig, configure_torch  # noqa: E402
from playground.compare.directions import flatten  # noqa: E402
from playground.compare.landscape import Evaluator  # noqa: E402
from playground.engine import Trainer  # noqa: E402
from playground.serve.film import GIF_STEPS  # noqa: E402
from playground.serve.limits import Limits  # noqa: E402
from playground.serve.trajectory import MB, Trajectory, weights_now  # noqa: E402
from playground.tasks import TASKS, build  # noqa: E402

CASES = {
    "classify cnn (defaults)": RunConfig(**{**TASKS["classify"].defaults, "task": "classify"}),
    "generate mlp 16 px": RunConfig(model="mlp", size=16, epochs=400),
    "generate conv 32 px": RunConfig(model="conv", size=32, epochs=400),
    "generate mlp 64 px": RunConfig(model="mlp", size=64, epochs=400),
}


def median_s(fn, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def case(cfg: RunConfig, quick: bool) -> tuple:
    """One row: snapshot size and time, snapshots per run and kept, run seconds, eval cost."""
    if quick:
        cfg = cfg.replace(epochs=2)
    trainer = Trainer(cfg)
    snap_s = median_s(lambda: weights_now(trainer.params), 3 if quick else 20)
    path = Trajectory(Limits().max_path_mb)
    t0 = time.process_time()
    taken = 0
    while not trainer.done:
        row = trainer.step()
        if row is not None and row.step in GIF_STEPS:
            path.extend([(row.step, weights_now(trainer.params))])
            taken += 1
    run_s = time.process_time() - t0
    ev = Evaluator(build(cfg), cfg.seed)
    centre = flatten(ev.params).clone()
    eval_s = median_s(lambda: ev.loss_at(centre), 3 if quick else 10)
    size = centre.numel() * centre.element_size()
    return (f"{centre.numel():,}", f"{size / MB:.2f}", f"{snap_s * 1000:.2f}", taken,
            f"{taken * size / MB:.1f}", len(path.points), f"{taken * snap_s:.3f}", f"{run_s:.1f}",
            f"{eval_s * 1000:.1f}", f"{eval_s * 441:.1f}")


def main(argv: list[str] | None = None) -> None:
    args = parse_checked(bench_parser(__doc__, "two epochs each"), argv)
    configure_torch(1)
    rows = [(name, *case(cfg, args.quick)) for name, cfg in CASES.items()]
    table = markdown_table(["run", "weights", "MB per snapshot", "ms per snapshot", "snapshots",
                            "MB sent", f"kept ({Limits().max_path_mb:g} MB)",
                            "recording s per run", "replay s (the run)", "ms per evaluation",
                            "s per 21x21 map"], rows)
    body = (f"## Landscape: recording the trajectory vs replaying the run\n\n`{command()}` (load "
            f"{load()}), one torch thread. A snapshot is taken at each GIF step the run passes; "
            f"a replay would cost the run's own CPU time every time a landscape is asked for."
            f"\n\n{table}")
    print(body)
    if args.write:
        print("wrote", write_section("landscape", body))


if __name__ == "__main__":
    main()
