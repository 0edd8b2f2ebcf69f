"""The ingredients of one run (`Built`) and the small seeded loader the sprite and line lessons use.

Every task's builder returns a `Built`; the Trainer, the race, the LR finder and the CLI only ever
see this shape, so a new lesson is one builder and one registry entry.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from playground.bugs.effects import Loop

if TYPE_CHECKING:
    from playground.config import RunConfig


class Loader:
    """Yields (inputs, targets) batches; one pass is one epoch; shuffles with its own seeded RNG."""

    def __init__(self, inputs: Tensor, targets: Tensor, batch_size: int, seed: int) -> None:
        self.inputs, self.targets = inputs, targets
        self.batch_size = min(batch_size, len(inputs))
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return math.ceil(len(self.inputs) / self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        n = len(self.inputs)
        if self.batch_size >= n:  # full batch: no shuffle needed, no copy made
            yield self.inputs, self.targets
            return
        order = torch.randperm(n, generator=self.generator)
        for i in range(0, n, self.batch_size):
            idx = order[i:i + self.batch_size]
            yield self.inputs[idx], self.targets[idx]


@dataclass
class Built:
    """The ingredients of one run, made real from a config."""

    config: RunConfig
    model: nn.Module
    loader: Any  # a Loader, a torch DataLoader, or a race's reader of shared batches
    criterion: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    target: Tensor | None  # (4, H, W) in [0, 1] for sprites; None for the other lessons
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    evaluate: Callable[[nn.Module], dict[str, float]] | None = None  # per-epoch validation
    view: Callable[[nn.Module], dict[str, Any]] | None = None  # what the page draws besides curves
    extra_columns: tuple[str, ...] = ()  # per-epoch metrics added to every history row
    test: Callable[[nn.Module], dict[str, Any]] | None = None  # held-out report, once a run ends
    loop: Loop = field(default_factory=Loop)  # zero_grad and loss.item(), as the run's bug has them
    probe: Callable[[nn.Module], dict[str, float]] | None = None  # per-epoch values to record


def data_tensors(loader: Any) -> tuple:
    """The training data behind our Loader or a torch DataLoader over a TensorDataset."""
    if isinstance(loader, Loader):
        return loader.inputs, loader.targets
    return tuple(getattr(getattr(loader, "dataset", None), "tensors", ()))
