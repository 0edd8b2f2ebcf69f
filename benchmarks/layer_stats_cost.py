"""What does the per-layer record cost? Every RATIO_EVERY-th step the Trainer measures the update
(a weight copy, two norms); with layer_stats.py it keeps every tensor's norm too and takes one more
norm of the gradients. This times that measured step's bookkeeping, the old way (two total norms)
against LayerStats.update, and shows the difference spread over RATIO_EVERY steps as a share of
one training step. Timing one call in isolation is steadier on a shared machine than comparing two
whole runs, whose noise is larger than the difference.

    python benchmarks/layer_stats_cost.py            # pixels, mlp, conv at 16 px: ~30 s
    python benchmarks/layer_stats_cost.py --quick    # a smoke run (numbers meaningless)
"""

from __future__ import annotations

import argparse
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import torch  # noqa: E402

from playground import RunConfig, configure_torch  # noqa: E402
from playground.engine import RATIO_EVERY, Trainer  # noqa: E402
from playground.tensor_ops import total_norm  # noqa: E402


def two_norms(weights: list[torch.Tensor], before: list[torch.Tensor],
              delta: list[torch.Tensor]) -> tuple[float, float]:
    """The measured step's bookkeeping before layer_stats.py: the total update and weight norms."""
    den = total_norm(before)
    for after, old, out in zip(weights, before, delta, strict=True):
        torch.sub(after, old, out=out)
    return total_norm(delta), den


def row(model: str, calls: int, repeat: int) -> str:
    """One model's table row: the old and new bookkeeping per measured step, and its share."""
    trainer = Trainer(RunConfig(model=model, size=16, epochs=1_000_000))
    for _ in range(3):
        trainer.step()
    weights = [p.detach() for p in trainer.params]
    before, delta = [w.clone() for w in weights], [w.clone() for w in weights]
    old = min(timeit.repeat(lambda: two_norms(weights, before, delta), number=calls,
                            repeat=repeat)) / calls * 1e6
    new = min(timeit.repeat(lambda: trainer.layers.update(3, weights, before, delta),
                            number=calls, repeat=repeat)) / calls * 1e6
    steps = max(5, calls // 60)
    step = min(timeit.repeat(trainer.step, number=steps, repeat=3)) / steps * 1e6
    extra = (new - old) / RATIO_EVERY
    return f"| {model} | 16 | {old:.1f} | {new:.1f} | {extra:.2f} | {step:.0f} | {extra / step:.2%} |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run (numbers meaningless)")
    args = parser.parse_args(argv)
    calls, repeat = (20, 1) if args.quick else (3000, 5)
    configure_torch(1)
    print("| model | px | old us | new us | extra us per step | one step us | share |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for model in ("pixels", "mlp", "conv"):
        print(row(model, calls, repeat))
    return 0


if __name__ == "__main__":
    sys.exit(main())
