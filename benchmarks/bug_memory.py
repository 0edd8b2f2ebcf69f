"""What does `epoch_total += loss` (instead of `loss.item()`) keep alive? The bug lab counts the
autograd nodes the epoch total links (exact, in the app and in tests/test_bugs.py); this measures
the bytes: glibc's heap in use (`mallinfo2`: torch's C++ graph nodes are allocated there, not in
Python's allocators, so tracemalloc cannot see them) before and after an epoch of N batches, for the
correct loop and the buggy one, each through the app's own Trainer on the classify lesson.

backward() frees the activations each node saved, so what stays is the nodes themselves and their
metadata: small per batch, but it grows with every batch until the epoch ends (or forever, for a
total that is never reset).

    python benchmarks/bug_memory.py           # classify, CNN and MLP, one long epoch each
"""

from __future__ import annotations

import ctypes
import gc
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from torch import Tensor  # noqa: E402

from playground.bugs.effects import Loop  # noqa: E402
from playground.bugs.lab import retained  # noqa: E402
from playground.config import RunConfig  # noqa: E402
from playground.engine import Trainer  # noqa: E402
from playground.warmup import configure_torch  # noqa: E402


class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                                               "usmblks", "fsmblks", "uordblks", "fordblks",
                                               "keepcost")]


LIBC = ctypes.CDLL("libc.so.6")
LIBC.mallinfo2.restype = MallInfo2


def heap_in_use() -> int:
    info = LIBC.mallinfo2()
    return info.uordblks + info.hblkhd


class Uncounted(Loop):
    """The bug alone, without the lab's node counter (whose own references cost memory too)."""

    def __init__(self) -> None:
        self.total = 0.0

    def item(self, loss: Tensor, epoch: int) -> float:
        self.total = self.total + loss
        return loss.item()


def one_epoch(cfg: RunConfig, counted: bool = True) -> tuple[int, int, int]:
    """(batches, bytes still in use after the epoch's last batch, graph nodes retained)."""
    trainer = Trainer(cfg)
    for _ in range(3):  # warm up: lazy allocations, the optimizer state
        trainer.step()
    trainer = Trainer(cfg)
    if not counted:
        trainer.b.loop = Uncounted()
    trainer.step()  # the epoch opens; its first batch
    gc.collect()
    before = heap_in_use()
    while trainer.epoch == 1 and trainer.step_count < len(trainer.b.loader):
        trainer.step()
    gc.collect()
    return trainer.step_count - 1, heap_in_use() - before, max(retained(trainer), default=0)


def main() -> None:
    configure_torch()
    print("| model | loop | batches | heap growth over the epoch | per batch | graph nodes kept |")
    print("|---|---|---:|---:|---:|---:|")
    for model in ("cnn", "mlp"):
        base = RunConfig(task="classify", model=model, samples=5000, batch_size=8, epochs=1,
                         patience=0, test_split=0.0)
        for loop, bug, counted in (("correct", "none", True),
                                   ("epoch_total += loss (the lab's counter on)", "loss_accumulation",
                                    True),
                                   ("epoch_total += loss (uncounted)", "loss_accumulation", False)):
            batches, grown, nodes = one_epoch(base.replace(bug=bug), counted)
            kept = f"{nodes:,}" if counted else "—"
            print(f"| {model} | {loop} | {batches} | {grown / 1024:,.0f} KB | "
                  f"{grown / batches:,.0f} B | {kept} |")


if __name__ == "__main__":
    main()
