"""The smallest loop: `nn.Linear(1, 1)` fitting house prices to house sizes with MSE and SGD.

Sizes are in square metres (40-220) and prices in thousands: unscaled, the gradient of the weight
is ~size^2 times larger than the bias's, so an LR that suits the bias blows the weight up. The
`normalize` option standardises both, which is why feature scaling fixes it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor, nn

from playground.models import ModelSpec

if TYPE_CHECKING:
    from playground.config import RunConfig

PRICE_PER_M2, BASE_PRICE = 3.2, 60.0  # thousands per square metre, thousands


def house_points(cfg: RunConfig) -> np.ndarray:
    """(N, 2) sizes and prices: the user's own points if given, else a seeded noisy line."""
    if cfg.houses:
        return parse_points(cfg.houses)
    rng = np.random.default_rng(cfg.seed)
    size = rng.uniform(40, 220, cfg.samples)
    price = BASE_PRICE + PRICE_PER_M2 * size + rng.normal(0, 25 + 100 * cfg.noise, cfg.samples)
    return np.stack([size.round(), price.round(1)], axis=1)


def parse_points(text: str) -> np.ndarray:
    """'size:price,size:price,...' (the compact form a share link carries) to an (N, 2) array."""
    pts = []
    for item in text.split(","):
        a, _, b = item.partition(":")
        try:
            pts.append((float(a), float(b)))
        except ValueError:
            continue
    arr = np.array([p for p in pts if np.isfinite(p).all()], dtype=np.float64).reshape(-1, 2)
    return arr[:500]


def format_points(points: np.ndarray) -> str:
    """Inverse of parse_points."""
    return ",".join(f"{x:g}:{y:g}" for x, y in points)


class Scaler:
    """Standardises sizes and prices when `normalize` is on; identity otherwise."""

    def __init__(self, points: np.ndarray, on: bool) -> None:
        self.on = on
        self.mx, self.sx = (points[:, 0].mean(), points[:, 0].std() or 1.0) if on else (0.0, 1.0)
        self.my, self.sy = (points[:, 1].mean(), points[:, 1].std() or 1.0) if on else (0.0, 1.0)

    def tensors(self, points: np.ndarray) -> tuple[Tensor, Tensor]:
        """Model inputs and targets, (N, 1) each."""
        x = (points[:, :1] - self.mx) / self.sx
        y = (points[:, 1:] - self.my) / self.sy
        return torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)

    def line(self, model: nn.Linear) -> tuple[float, float]:
        """(price per m², base price) in real units from the model's weight and bias."""
        w, b = float(model.weight.detach()[0, 0]), float(model.bias.detach()[0])
        slope = w * self.sy / self.sx
        return slope, self.my + self.sy * b - slope * self.mx


def closed_form(points: np.ndarray) -> tuple[float, float]:
    """The least-squares answer (slope, intercept) that gradient descent should reach."""
    slope, intercept = np.polyfit(points[:, 0], points[:, 1], 1)
    return float(slope), float(intercept)


class Line(nn.Module):
    """nn.Linear(1, 1) with weight and bias starting at zero, so every run starts the same."""

    def __init__(self, cfg: RunConfig) -> None:
        super().__init__()
        self.fc = nn.Linear(1, 1)

    def reset(self, g: torch.Generator) -> None:
        """Weight and bias start at zero: every run of the line starts the same."""
        nn.init.zeros_(self.fc.weight)
        nn.init.zeros_(self.fc.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(x)


LINE_MODELS = {"linear": ModelSpec(Line, "Linear: price = weight x size + bias.", ("batch_size",),
                                   race_lr={"sgd": 1e-5, "adam": 0.01})}
