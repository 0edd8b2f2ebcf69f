"""Where do the learning-rate regimes sit? SGD (no momentum) and Adam over 1e-4 to 10, for every
sprite model at the default size and settings, each run classified as crawl / converge / oscillate /
diverge by `playground.compare.regimes` (from the loss per epoch).

The goal (issue 13): for every model, some SGD learning rate at or below 1e-3 crawls, a middle one
converges, a higher one oscillates, and one at or below 3 diverges; Adam's divergence edge is at or
below 1 for the networks. tests/test_lr_regimes.py asserts those edges on the LRs this table names.

    python benchmarks/lr_regimes.py            # the table, about 2 minutes on an idle box
    python benchmarks/lr_regimes.py --write    # ... and update docs/benchmarks.md
    python benchmarks/lr_regimes.py --quick    # two learning rates per row (numbers meaningless)
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
from playground import RunConfig, configure_torch, train  # noqa: E402
from playground.compare.regimes import REGIMES, run_regime  # noqa: E402
from playground.models import MODELS  # noqa: E402

LRS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.18, 0.3, 1.0, 3.0, 10.0)
MARK = {"crawl": "🐢 crawl", "converge": "✅ converge", "oscillate": "〰️ oscillate", "diverge": "💥 diverge"}


def sweep(model: str, optimizer: str, lrs: tuple[float, ...]) -> list[tuple[float, str, float]]:
    """(lr, regime, final/first loss) per learning rate, from the model's default config."""
    out = []
    for lr in lrs:
        result = train(RunConfig(model=model, optimizer=optimizer, lr=lr, momentum=0.0, pace=0))
        loss = result.history["loss"]
        ratio = float(loss.iloc[-1] / loss.iloc[0]) if len(loss) else float("nan")
        out.append((lr, run_regime(result.history, result.status), ratio))
    return out


def edges(cells: list[tuple[float, str, float]]) -> str:
    """The first LR of each regime, read left to right (what the tests pin down)."""
    first: dict[str, float] = {}
    for lr, name, _ in cells:
        first.setdefault(name, lr)
    return ", ".join(f"{name} from {first[name]:g}" for name in REGIMES if name in first)


def main(argv: list[str] | None = None) -> int:
    args = parse_checked(bench_parser(__doc__, "two learning rates per row"), argv)
    configure_torch(1)
    lrs = (1e-3, 3.0) if args.quick else LRS
    t0 = time.perf_counter()
    rows, notes = [], []
    for model in MODELS:
        for optimizer in ("sgd", "adam"):
            cells = sweep(model, optimizer, lrs)
            rows.append((model, optimizer, *(MARK[name] for _, name, _ in cells)))
            notes.append(f"- **{model} / {optimizer}**: {edges(cells)}; final/first loss: "
                         + ", ".join(f"{lr:g} → {ratio:.2g}" for lr, _, ratio in cells))
            print(f"{model:6} {optimizer:4}", *(f"{name[:4]:5}" for _, name, _ in cells), flush=True)
    table = markdown_table(("model", "optimizer", *(f"lr {lr:g}" for lr in lrs)), rows)
    cfg = RunConfig()
    body = "\n".join([
        "## Learning-rate regimes on the defaults", "",
        f"Command: `{command()}` · {machine()} · load before: {load()} · "
        f"{time.perf_counter() - t0:.0f} s", "",
        f"Every sprite model at the default size ({cfg.size} px), loss ({cfg.loss}, reduction "
        f"`{cfg.reduction}`) and length ({cfg.epochs} epochs), SGD without momentum and Adam. "
        "A run converges when its last epoch's loss is at most 5% of its first; it crawls when the "
        "loss fell steadily but not that far; it oscillates when the loss shot above 10x its first value "
        "on the way (an overshoot: a network's catapult, even if it then settles), rose in at least 5% "
        "of its epochs, or did not fall at all; it diverges when the run stopped as diverged.", "",
        table, "", *notes, "",
        "Learnable pixels under SGD is the textbook quadratic (loss = sum of squared errors): one "
        "step multiplies every pixel's error by (1 - 2 lr), so 0.5 lands in one step, 1.0 flips every "
        "pixel between two values forever (the loss sits still: *oscillate*), and above 1 it "
        "diverges. Adam cannot diverge on learnable pixels: each step moves a pixel by about the "
        "learning rate whatever the gradient's size, so a too-large rate makes the picture thrash "
        "before it settles: the loss overshoots (*oscillate*) and then still ends low.",
    ])
    print(body)
    if args.write:
        print(f"written to {write_section('lr_regimes', body)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
