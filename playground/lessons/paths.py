"""The paths lesson's ingredients: the "model" is one point (two weights) on a 2-D surface.

The point's loss is the surface's value there, so any optimizer, schedule and clipping run on it
exactly as on a network. The stochastic version adds Gaussian noise to the gradient (not to the
loss), its size `grad_noise / sqrt(batch_size)`, as a minibatch of that size would. Each history row
records where the point was when its loss was measured (`x`, `y`), so the row's loss is f(x, y).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from playground import surfaces
from playground.ingredients import Built
from playground.losses import LossSpec
from playground.models import ModelSpec
from playground.optim import make_optimizer
from playground.schedules import make_scheduler

if TYPE_CHECKING:
    from playground.config import RunConfig

PATH_COLUMNS = ("x", "y")  # per step: where the point was when the step's loss was measured
DTYPE = torch.float64


class Point(nn.Module):
    """Two weights, (x, y), starting at the configured start; `before` is where the last step began."""

    def __init__(self, cfg: RunConfig) -> None:
        super().__init__()
        start = torch.tensor([cfg.start_x, cfg.start_y], dtype=DTYPE)
        self.xy = nn.Parameter(start.clone())
        self.register_buffer("before", start.clone())

    def forward(self, x: Tensor) -> Tensor:
        return self.xy


class SurfaceLoss(nn.Module):
    """The surface's value at the point; a noise batch adds `noise . xy` to the gradient only."""

    def __init__(self, cfg: RunConfig) -> None:
        super().__init__()
        self.cfg = cfg

    def forward(self, xy: Tensor, noise: Tensor) -> Tensor:
        loss = surfaces.value(self.cfg, xy[0], xy[1])
        if noise.numel():  # value unchanged (xy - xy == 0), gradient + noise
            loss = loss + (noise * (xy - xy.detach())).sum()
        return loss


class NoiseLoader:
    """One batch per epoch: the gradient noise of that step (empty when there is none), drawn
    from a seeded generator of its own so a run and a race see the same noise."""

    def __init__(self, cfg: RunConfig) -> None:
        self.scale = cfg.grad_noise / math.sqrt(cfg.batch_size)
        self.generator = torch.Generator().manual_seed(cfg.seed + 3)
        self.one = torch.zeros(1, dtype=DTYPE)  # the one example an epoch holds (the point reads none)
        self.empty = torch.zeros(0, dtype=DTYPE)

    def __len__(self) -> int:
        return 1

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        if self.scale == 0:
            yield self.one, self.empty
            return
        noise = torch.randn(2, generator=self.generator, dtype=DTYPE) * self.scale
        yield self.one, noise


def probe(model: nn.Module) -> dict[str, float]:
    """Where the step that just ended began (its loss was measured there); then remember where
    the next one begins. Called once per step, at the step's end."""
    x, y = model.before.tolist()
    with torch.no_grad():
        model.before.copy_(model.xy)
    return {"x": x, "y": y}


def update_vector(optimizer: torch.optim.Optimizer, cfg: RunConfig) -> tuple[float, float] | None:
    """What the optimizer's state adds to the next step: SGD's -lr x momentum buffer, or the
    Adam family's -lr x m̂ / (√v̂ + ε); None for optimizers without a running direction."""
    group = optimizer.param_groups[0]
    state = optimizer.state.get(group["params"][0], {})
    lr = float(group["lr"])
    if "momentum_buffer" in state and state["momentum_buffer"] is not None:
        return tuple((-lr * state["momentum_buffer"]).tolist())
    if "exp_avg" in state and "exp_avg_sq" in state:
        step = float(state["step"])
        b1, b2 = group["betas"]
        m = state["exp_avg"] / (1 - b1 ** step)
        v = state["exp_avg_sq"] / (1 - b2 ** step)
        return tuple((-lr * m / (v.sqrt() + group["eps"])).tolist())
    return None


def surface_start(chosen: Mapping[str, Any]) -> dict[str, float]:
    """The chosen surface's own start point, unless the start is chosen too."""
    surface = surfaces.SURFACES.get(chosen.get("surface", "bowl"))
    if surface is None:
        return {}
    return dict(zip(("start_x", "start_y"), surface.start, strict=True))


def build_paths(cfg: RunConfig, target: Any = None) -> Built:
    """A point at the start, the surface as its loss, and the configured optimizer and schedule."""
    model = Point(cfg)
    optimizer = make_optimizer(model.parameters(), cfg)

    def view(m: nn.Module) -> dict[str, Any]:
        """The point, the gradient there and the optimizer's running direction."""
        x, y = m.xy.detach().tolist()
        return {"x": x, "y": y, "gradient": surfaces.gradient(cfg, x, y),
                "update": update_vector(optimizer, cfg)}

    return Built(cfg, model, NoiseLoader(cfg), SurfaceLoss(cfg), optimizer,
                 make_scheduler(optimizer, cfg), None, view=view, extra_columns=PATH_COLUMNS,
                 probe=probe)


POINT_MODELS = {"point": ModelSpec(Point, "A point (x, y): two weights, and the surface is the "
                                   "loss.")}
PATH_LOSSES = {"surface": LossSpec(nn.Identity, doc="The surface's height at the point (the "
                                   "builder makes it from the config: `SurfaceLoss`).")}
