"""How each bug changes a run, as plain PyTorch pieces the task builders and the Trainer use.

The builders hand their `Built` to `inject.apply` (criterion, training loader and the update's two
bookkeeping lines) and ask `inject.validation` how to validate; everything else is the normal run,
so a run without a bug is the normal run bit for bit.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from playground.tensor_ops import clear_grads

if TYPE_CHECKING:
    from playground.config import RunConfig


class Loop:
    """The update's bookkeeping as the correct loop writes it: `optimizer.zero_grad()` before the
    forward pass, and `loss.item()` (a plain float) for the epoch's total."""

    def zero_grad(self, optimizer: torch.optim.Optimizer) -> None:
        clear_grads(optimizer)

    def item(self, loss: Tensor, epoch: int) -> float:
        return loss.item()


class NoZeroGrad(Loop):
    """`optimizer.zero_grad()` forgotten: each backward() adds to the gradients already there."""

    def zero_grad(self, optimizer: torch.optim.Optimizer) -> None:
        pass


class AccumulatedLoss(Loop):
    """`epoch_total += loss` instead of `loss.item()`: the total is a tensor whose autograd graph
    links every batch's graph of the epoch, kept alive until the total is reset. `retained`
    holds, per step, how many graph nodes the total keeps alive (counted, not estimated)."""

    def __init__(self) -> None:
        self.total: Tensor | float = 0.0
        self.epoch = 0
        self.retained: list[int] = []
        self._seen: set[int] = set()
        self._nodes: list[Any] = []  # the nodes counted, so their ids cannot be reused meanwhile

    def item(self, loss: Tensor, epoch: int) -> float:
        if epoch != self.epoch:  # `epoch_total = 0.0` at the top of each epoch
            self.total, self.epoch, self._seen, self._nodes = 0.0, epoch, set(), []
        self.total = self.total + loss
        self._count(self.total.grad_fn)
        self.retained.append(len(self._seen))
        return loss.item()

    def _count(self, node: Any) -> None:
        """Walk the graph from the new node, stopping at nodes already counted."""
        todo = [node]
        while todo:
            n = todo.pop()
            if n is None or id(n) in self._seen:
                continue
            self._seen.add(id(n))
            self._nodes.append(n)
            todo += [f for f, _ in n.next_functions]


def retained_nodes(graph_root: Any) -> int:
    """How many autograd nodes a tensor's graph holds (for tests and the benchmark)."""
    counter = AccumulatedLoss()
    counter._count(graph_root)
    return len(counter._seen)


class Squashed(nn.Module):
    """A loss given squashed outputs: `criterion(torch.sigmoid(model(x)), y)` (or softmax), though
    the loss already applies that function itself."""

    def __init__(self, inner: nn.Module, squash: Callable[[Tensor], Tensor]) -> None:
        super().__init__()
        self.inner, self.squash = inner, squash

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        return self.inner(self.squash(output), target)


def sigmoid(t: Tensor) -> Tensor:
    return torch.sigmoid(t)


def softmax(t: Tensor) -> Tensor:
    return torch.softmax(t, dim=1)


def sorted_loader(cfg: RunConfig, loader: DataLoader) -> DataLoader:
    """The training set sorted by class (as read folder by folder) and never shuffled."""
    x, y = loader.dataset.tensors
    order = torch.argsort(y, stable=True)
    return DataLoader(TensorDataset(x[order], y[order]), batch_size=cfg.batch_size, shuffle=False)


@contextlib.contextmanager
def evaluating(model: nn.Module) -> Iterator[None]:
    """Validation as it should be: eval mode (dropout off) and no graph, then back to training."""
    model.eval()
    with torch.no_grad():
        yield
    model.train()


@contextlib.contextmanager
def still_training(model: nn.Module) -> Iterator[None]:
    """`model.eval()` and `torch.no_grad()` forgotten: dropout stays on and a graph is built."""
    with torch.enable_grad():
        yield
