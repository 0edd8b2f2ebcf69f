"""Surface registry for the paths lesson: 2-D loss functions a point rolls down.

Each entry is a function of two tensors (elementwise, so one call draws a whole grid and another
gives the loss of the point being trained), with its doc, default start, plotting range, the
documented minima and the settings it reads (the bowl reads `condition` and `rotation`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

if TYPE_CHECKING:
    from playground.config import RunConfig

Fn = Callable[[Tensor, Tensor, "RunConfig"], Tensor]


@dataclass(frozen=True)
class Surface:
    """One 2-D landscape: its function, a line that teaches it, where paths start and what to plot."""

    fn: Fn
    doc: str
    start: tuple[float, float]
    extent: tuple[float, float, float, float]  # x from, x to, y from, y to
    minima: tuple[tuple[float, float], ...]  # the global minima (the bowl's at any setting)
    uses: tuple[str, ...] = ()
    floor: float = 0.0  # the lowest value (the contours are drawn on a log scale above it)


def bowl_curvatures(cfg: RunConfig) -> tuple[float, float]:
    """The bowl's Hessian eigenvalues (λ_max, λ_min): 1 and 1/condition."""
    return 1.0, 1.0 / cfg.condition


def _bowl(x: Tensor, y: Tensor, cfg: RunConfig) -> Tensor:
    big, small = bowl_curvatures(cfg)
    theta = math.radians(cfg.rotation)
    c, s = math.cos(theta), math.sin(theta)
    u, v = c * x + s * y, c * y - s * x  # u: the shallow axis, v: the steep one
    return 0.5 * (small * u * u + big * v * v)


def _rosenbrock(x: Tensor, y: Tensor, cfg: RunConfig) -> Tensor:
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


def _beale(x: Tensor, y: Tensor, cfg: RunConfig) -> Tensor:
    return ((1.5 - x + x * y) ** 2 + (2.25 - x + x * y * y) ** 2
            + (2.625 - x + x * y * y * y) ** 2)


def _himmelblau(x: Tensor, y: Tensor, cfg: RunConfig) -> Tensor:
    return (x * x + y - 11) ** 2 + (x + y * y - 7) ** 2


def _saddle(x: Tensor, y: Tensor, cfg: RunConfig) -> Tensor:
    return 0.5 * x * x + 0.25 * (y * y - 1) ** 2


def _rastrigin(x: Tensor, y: Tensor, cfg: RunConfig) -> Tensor:
    tau = 2 * math.pi
    return 20 + x * x - 10 * torch.cos(tau * x) + y * y - 10 * torch.cos(tau * y)


SURFACES: dict[str, Surface] = {
    "bowl": Surface(
        _bowl, "A quadratic bowl: 1/2 (u²/κ + v²) along axes turned by `rotation`. The condition "
        "number κ stretches it into a narrow valley where plain SGD zig-zags.",
        (-4.0, 2.0), (-5.0, 5.0, -5.0, 5.0), ((0.0, 0.0),), ("condition", "rotation")),
    "rosenbrock": Surface(
        _rosenbrock, "Rosenbrock's banana: (1-x)² + 100 (y-x²)². Reaching the curved valley is "
        "easy; following it to (1, 1) is slow.", (-1.5, 2.0), (-2.0, 2.0, -1.0, 3.0),
        ((1.0, 1.0),)),
    "beale": Surface(
        _beale, "Beale's function: flat plateaus and steep walls (gradients from 0 to 10⁵); the "
        "minimum is at (3, 0.5).", (1.0, 1.5), (-4.5, 4.5, -4.5, 4.5), ((3.0, 0.5),)),
    "himmelblau": Surface(
        _himmelblau, "Himmelblau's function: four equal minima; which one a path finds depends on "
        "the start and the optimizer.", (0.0, 0.0), (-5.0, 5.0, -5.0, 5.0),
        ((3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126))),
    "saddle": Surface(
        _saddle, "A saddle at the origin between minima at (0, ±1): x²/2 + (y²-1)²/4. Gradient "
        "descent started on the ridge (y near 0) stalls there; noise or momentum helps it off.",
        (-1.8, 0.001), (-2.0, 2.0, -2.0, 2.0), ((0.0, 1.0), (0.0, -1.0))),
    "rastrigin": Surface(
        _rastrigin, "Rastrigin's function: a bowl covered in bumps, with a local minimum near "
        "every whole-number point; the global one is at the origin.", (-4.3, 3.7),
        (-5.12, 5.12, -5.12, 5.12), ((0.0, 0.0),)),
}


def value(cfg: RunConfig, x: Tensor, y: Tensor) -> Tensor:
    """The configured surface at (x, y), elementwise."""
    return SURFACES[cfg.surface].fn(x, y, cfg)


def grid(cfg: RunConfig, size: int) -> tuple[Tensor, Tensor, Tensor]:
    """(xs, ys, values) on a size x size grid over the surface's plotting range, in float64."""
    x0, x1, y0, y1 = SURFACES[cfg.surface].extent
    xs = torch.linspace(x0, x1, size, dtype=torch.float64)
    ys = torch.linspace(y0, y1, size, dtype=torch.float64)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return gx, gy, value(cfg, gx, gy)


def gradient(cfg: RunConfig, x: float, y: float) -> tuple[float, float]:
    """∇f at one point, by autograd (what the optimizer sees without noise)."""
    p = torch.tensor([x, y], dtype=torch.float64, requires_grad=True)
    value(cfg, p[0], p[1]).backward()
    gx, gy = p.grad.tolist()
    return gx, gy
