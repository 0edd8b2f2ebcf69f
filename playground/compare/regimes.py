"""What a learning rate did to a run, in the four words every course uses: it crawled, converged,
oscillated or diverged. Read from the run's loss per epoch (the mean over its batches, so minibatch
noise is not mistaken for oscillation)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from playground.config import RunConfig

REGIMES = {
    "crawl": "too small: the loss falls steadily but stays far from the target",
    "converge": "just right: the loss ends below 5% of where it started (the sprite has formed)",
    "oscillate": "too large: the loss keeps going up and down, sits still while the weights flip, "
                 "or shot far up and never came back down to the target",
    "diverge": "far too large: the loss blew up and the run stopped",
}
CONVERGED = 0.05  # final loss at or below 5% of the first epoch's: the sprite has clearly formed
RISE = 0.02  # an epoch whose loss is 2% above the one before went visibly up
SAWING = 0.10  # a share of rising epochs in the run's second half that no settling run shows
SPIKE = 10.0  # a loss this many times the first, on the way, is an overshoot (a network's catapult)
FLOOR = 1e-6  # below this share of the first loss, float noise is not sawing


def epoch_losses(history: pd.DataFrame) -> np.ndarray:
    """The mean training loss of each epoch, in order."""
    return history.groupby("epoch", sort=True)["loss"].mean().to_numpy(dtype=np.float64)


def sawing(losses: np.ndarray) -> float:
    """The share of epochs in the run's second half whose loss rose visibly: sustained up-and-down,
    not the one overshoot a catapult makes early on, nor float noise at a converged loss."""
    late = np.maximum(losses[len(losses) // 2:], FLOOR * float(losses[0]))
    return float(np.mean(late[1:] > late[:-1] * (1 + RISE))) if len(late) > 1 else 0.0


def start_loss(cfg: RunConfig) -> float | None:
    """The loss before any learning, where the first epoch's mean is not it: a classifier's first
    epoch takes many steps (a large rate has already blown up within it), while every fresh
    classifier scores about ln(classes), a uniform guess's cross-entropy (ln 2 for one BCE logit).
    None for the other tasks: their first epoch's loss is the start."""
    if cfg.task != "classify":
        return None
    return math.log(2.0 if cfg.loss == "bce" else cfg.classes)


def regime(losses: np.ndarray, status: str, start: float | None = None) -> str:
    """crawl, converge, oscillate or diverge, from per-epoch losses and the run's status, measured
    against `start` (the loss before learning; the first epoch's by default). What the learner
    sees decides: a run that overshot and then converged converged."""
    if status == "diverged" or not len(losses) or not np.isfinite(losses).all():
        return "diverge"
    first = float(losses[0]) if start is None else start
    final = float(losses[-1])
    if final <= CONVERGED * first:
        return "converge"
    stuck = final >= first * (1 - 1e-6)
    if stuck or sawing(losses) >= SAWING or float(losses.max()) > SPIKE * first:
        return "oscillate"
    return "crawl"


def run_regime(history: pd.DataFrame, status: str, start: float | None = None) -> str:
    """The regime of a finished run (`TrainResult.history`, `.status`; `start_loss(cfg)`)."""
    return regime(epoch_losses(history), status, start)
