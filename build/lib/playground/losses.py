"""Loss registry: what 'wrong' means, and how raw model outputs become display pixels."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn


def _clamp(t: Tensor) -> Tensor:
    return t.clamp(0.0, 1.0)


@dataclass(frozen=True)
class LossSpec:
    """One loss: its torch module, how outputs map to [0, 1] pixels, and a line that teaches it."""

    make: Callable[[], nn.Module]
    to_pixels: Callable[[Tensor], Tensor] = _clamp
    doc: str = ""


LOSSES: dict[str, LossSpec] = {
    "mse": LossSpec(nn.MSELoss, _clamp,
                    "Mean squared error: punishes big misses hard; smooth and the usual default."),
    "l1": LossSpec(nn.L1Loss, _clamp,
                   "Mean absolute error: every miss counts linearly; sharper, but gradients "
                   "never shrink."),
    "huber": LossSpec(lambda: nn.HuberLoss(delta=0.1), _clamp,
                      "Huber: squared for small misses, absolute for big ones (delta 0.1)."),
    "bce": LossSpec(nn.BCEWithLogitsLoss, torch.sigmoid,
                    "Binary cross-entropy on [0,1] pixels: the model emits logits; stable "
                    "(log-sum-exp) form."),
}
