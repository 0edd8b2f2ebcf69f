"""Loss registry: what 'wrong' means, how raw model outputs become display pixels, and how the
per-number errors are reduced to one loss (which sets the scale of every learning rate)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn


def _clamp(t: Tensor) -> Tensor:
    return t.clamp(0.0, 1.0)


@dataclass(frozen=True)
class LossSpec:
    """One loss: its torch module, how outputs map to [0, 1] pixels, a line that teaches it, and
    the settings it reads."""

    make: Callable[[], nn.Module]
    to_pixels: Callable[[Tensor], Tensor] = _clamp
    doc: str = ""
    uses: tuple[str, ...] = ()


class PerExample(nn.Module):
    """The loss of each example summed over its numbers, then averaged over the batch: a sprite's
    loss no longer shrinks by its pixel count, so SGD's learning rates sit at the usual 1e-3 to 1.

    With `dims=(1, 2, 3)` an example is a whole sprite (N, C, H, W); with `dims=(1,)` it is one
    pixel's channels, for models whose weights are shared across pixels."""

    def __init__(self, per_element: nn.Module, dims: tuple[int, ...]) -> None:
        super().__init__()
        per_element.reduction = "none"
        self.per_element, self.dims = per_element, dims

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        return self.per_element(output, target).sum(dim=self.dims).mean()


REDUCTIONS = {
    "sum": "summed over each example's pixels and channels, averaged over the batch",
    "mean": "averaged over every number (PyTorch's default): SGD then needs ~1,000x larger rates",
}


def make_criterion(loss: str, reduction: str, example_dims: tuple[int, ...]) -> nn.Module:
    """The sprite lesson's loss module with its reduction."""
    base = LOSSES[loss].make()
    return PerExample(base, example_dims) if reduction == "sum" else base


LOSSES: dict[str, LossSpec] = {
    "mse": LossSpec(nn.MSELoss, _clamp,
                    "Mean squared error: punishes big misses hard; smooth and the usual default.",
                    ("reduction",)),
    "l1": LossSpec(nn.L1Loss, _clamp,
                   "Mean absolute error: every miss counts linearly; sharper, but gradients "
                   "never shrink.", ("reduction",)),
    "huber": LossSpec(lambda: nn.HuberLoss(delta=0.1), _clamp,
                      "Huber: squared for small misses, absolute for big ones (delta 0.1).",
                      ("reduction",)),
    "bce": LossSpec(nn.BCEWithLogitsLoss, torch.sigmoid,
                    "Binary cross-entropy on [0,1] pixels: the model emits logits; stable "
                    "(log-sum-exp) form.", ("reduction",)),
}
