"""What a learning rate did to a run, in the four words every course uses: it crawled, converged,
oscillated or diverged. Read from the run's loss per epoch (the mean over its batches, so minibatch
noise is not mistaken for oscillation)."""

from __future__ import annotations

import numpy as np
import pandas as pd

REGIMES = {
    "crawl": "too small: the loss falls steadily but stays far from the target",
    "converge": "just right: the loss ends below 5% of where it started (the sprite has formed)",
    "oscillate": "too large: the loss shoots up on the way (it overshoots, and may then settle), "
                 "goes up and down, or sits still while the weights flip",
    "diverge": "far too large: the loss blew up and the run stopped",
}
CONVERGED = 0.05  # final loss at or below 5% of the first epoch's: the sprite has clearly formed
RISES = 0.05  # a share of epochs whose loss went up that no steadily falling run shows
SPIKE = 10.0  # a loss this many times the first, on the way, is an overshoot (a network's catapult)


def epoch_losses(history: pd.DataFrame) -> np.ndarray:
    """The mean training loss of each epoch, in order."""
    return history.groupby("epoch", sort=True)["loss"].mean().to_numpy(dtype=np.float64)


def regime(losses: np.ndarray, status: str) -> str:
    """crawl, converge, oscillate or diverge, from per-epoch losses and the run's status."""
    if status == "diverged" or not len(losses) or not np.isfinite(losses).all():
        return "diverge"
    first, final = float(losses[0]), float(losses[-1])
    if float(losses.max()) > SPIKE * first:
        return "oscillate"
    if final <= CONVERGED * first:
        return "converge"
    steps = np.diff(losses)
    rises = float(np.mean(steps > 1e-9 * abs(first))) if len(steps) else 0.0
    if rises >= RISES or final >= first * (1 - 1e-6):
        return "oscillate"
    return "crawl"


def run_regime(history: pd.DataFrame, status: str) -> str:
    """The regime of a finished run (`TrainResult.history`, `.status`)."""
    return regime(epoch_losses(history), status)
