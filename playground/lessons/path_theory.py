"""What theory predicts on the quadratic bowl, stated next to what a run does.

With curvatures λ_max ≥ λ_min (κ = λ_max / λ_min): plain gradient descent is stable for
lr < 2/λ_max and converges fastest at lr = 2/(λ_max + λ_min); heavy-ball momentum (torch's SGD
momentum) is fastest at critical damping, β = ((√κ−1)/(√κ+1))² with lr = (2/(√λ_max+√λ_min))²
(Goh, "Why Momentum Really Works", Distill 2017).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from playground.surfaces import bowl_curvatures

if TYPE_CHECKING:
    from playground.config import RunConfig


@dataclass(frozen=True)
class BowlTheory:
    """The bowl's predictions for one condition number."""

    big: float  # λ_max
    small: float  # λ_min
    sgd_edge: float  # plain SGD diverges above this lr
    sgd_best_lr: float  # plain SGD's fastest lr
    sgd_rate: float  # its error shrinks by this factor per step
    momentum: float  # the critically damped β
    momentum_lr: float  # ... with this lr
    momentum_rate: float  # ... shrinking the error by this factor per step


def bowl_theory(cfg: RunConfig) -> BowlTheory:
    """Stability edge and optimal settings of plain SGD and of momentum on the configured bowl."""
    big, small = bowl_curvatures(cfg)
    kappa = big / small
    root = math.sqrt(kappa)
    return BowlTheory(big, small, 2 / big, 2 / (big + small), (kappa - 1) / (kappa + 1),
                      ((root - 1) / (root + 1)) ** 2, (2 / (math.sqrt(big) + math.sqrt(small))) ** 2,
                      (root - 1) / (root + 1))


def optimum_settings(cfg: RunConfig) -> dict[str, object]:
    """The settings "use the optimum" applies: SGD with the critically damped momentum and lr."""
    t = bowl_theory(cfg)
    return {"optimizer": "sgd", "momentum": round(t.momentum, 6), "lr": round(t.momentum_lr, 6),
            "nesterov": False, "schedule": "constant"}
