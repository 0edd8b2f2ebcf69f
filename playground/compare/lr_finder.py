"""Learning-rate range test (Smith 2015, fastai's `lr_find`): raise the LR exponentially, one optimizer
step per LR, and read a good LR off the loss curve.

It trains a fresh copy of the weights (built from the config's seed, or copied from a state dict you
pass), so a user's run is never touched. It stops when the smoothed loss explodes past
`diverge_factor` x its best or the loss stops being finite (those points are not kept), then suggests
the LR at fastai's `valley` (inside the longest stretch of falling loss) and reports the `steep`est
descent of the smoothed curve as well.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from torch import Tensor, nn

from playground.config import FIELDS, ConfigError, RunConfig
from playground.ingredients import Built
from playground.tasks import build

COLUMNS = ["step", "lr", "loss", "smoothed"]
VALLEY_TOLERANCE = 0.01  # a fall under 1% of the drop to the curve's minimum is flat, not a valley
MAX_STEPS = 10_000


@dataclass
class LRFindResult:
    """The sweep's curve and what it suggests."""

    frame: pd.DataFrame  # step, lr, loss, smoothed (finite points only)
    suggestion: float | None  # the LR to use: `valley`, or `steep` when there is no valley
    steep: float | None  # where the smoothed loss falls fastest per decade of LR
    valley: float | None  # fastai's valley: inside the longest run of falling loss
    stopped: str  # why the sweep ended: "end", "exploded", "non-finite" or "stopped" (cancelled)
    seconds: float

    def summary(self) -> dict[str, object]:
        """JSON-able headline numbers."""
        return {"suggestion": self.suggestion, "steep": self.steep, "valley": self.valley,
                "points": len(self.frame), "stopped": self.stopped,
                "seconds": round(self.seconds, 3)}


def lr_find(cfg: RunConfig, start: float = 1e-6, end: float = 10.0, steps: int = 150,
            smoothing: float = 0.98, diverge_factor: float = 4.0,
            state: Mapping[str, Tensor] | None = None,
            should_stop: Callable[[], bool] | None = None) -> LRFindResult:
    """Sweep the LR from `start` to `end` over `steps` optimizer steps on a copy of the weights."""
    _check_args(start, end, steps, smoothing, diverge_factor)
    b = build(cfg.replace(schedule="constant"))  # the sweep is the schedule
    if state is not None:
        b.model.load_state_dict(state)  # copies: the caller's tensors are never stepped
    t0 = time.perf_counter()
    rows, stopped = _sweep(b, sweep_lrs(start, end, steps), smoothing, diverge_factor, should_stop)
    frame = pd.DataFrame(rows, columns=COLUMNS)
    steep, valley = steepest(frame), valley_lr(frame)
    return LRFindResult(frame, _usable(valley if valley is not None else steep), steep, valley,
                        stopped, time.perf_counter() - t0)


def _usable(lr: float | None) -> float | None:
    """A suggestion within RunConfig's LR range, so 'use this LR' always gives a valid config."""
    if lr is None:
        return None
    spec = FIELDS["lr"].metadata
    return min(max(lr, spec["min"]), spec["max"])


def _check_args(start: float, end: float, steps: int, smoothing: float, factor: float) -> None:
    """Clear errors for a sweep that could not mean anything."""
    if not (math.isfinite(start) and math.isfinite(end) and 0 < start < end):
        raise ConfigError(f"lr_find: need 0 < start < end, finite; got start={start:g}, "
                          f"end={end:g}")
    if not 5 <= steps <= MAX_STEPS:
        raise ConfigError(f"lr_find: steps must be 5 to {MAX_STEPS}, got {steps}")
    if not 0 <= smoothing < 1:
        raise ConfigError(f"lr_find: smoothing must be in [0, 1), got {smoothing:g}")
    if not factor > 1:
        raise ConfigError(f"lr_find: diverge_factor must be above 1, got {factor:g}")


def sweep_lrs(start: float, end: float, steps: int) -> np.ndarray:
    """`steps` learning rates from start to end, evenly spaced on a log scale."""
    return np.geomspace(start, end, steps)


def _sweep(b: Built, lrs: np.ndarray, beta: float, factor: float,
           should_stop: Callable[[], bool] | None) -> tuple[list[tuple], str]:
    """One optimizer step per LR; stop on explosion, a non-finite loss, or a request."""
    rows: list[tuple] = []
    avg, best = 0.0, math.inf
    batches = _cycle(b)
    for i, lr in enumerate(lrs):
        if should_stop is not None and should_stop():
            return rows, "stopped"
        for group in b.optimizer.param_groups:
            group["lr"] = float(lr)
        loss = _step(b, *next(batches))
        if not math.isfinite(loss):
            return rows, "non-finite"
        avg = beta * avg + (1 - beta) * loss
        smoothed = avg / (1 - beta ** (i + 1))  # debiased, as fastai does
        rows.append((i + 1, float(lr), loss, smoothed))
        if i > 0 and smoothed > factor * best:
            return rows, "exploded"
        best = min(best, smoothed)
    return rows, "end"


def _cycle(b: Built) -> Iterator[tuple[Tensor, Tensor]]:
    """The loader's batches, epoch after epoch."""
    while True:
        b.model.train()
        yield from b.loader


def _step(b: Built, x: Tensor, y: Tensor) -> float:
    """One training step (LBFGS with its closure) at the current LR; the loss it saw."""
    params = [p for p in b.model.parameters() if p.requires_grad]

    def closure() -> Tensor:
        b.optimizer.zero_grad(set_to_none=True)
        loss = b.criterion(b.model(x), y)
        loss.backward()
        if b.config.clip_grad_norm > 0:
            nn.utils.clip_grad_norm_(params, b.config.clip_grad_norm)
        return loss

    if b.config.optimizer == "lbfgs":
        return float(b.optimizer.step(closure))
    loss = closure().item()
    if math.isfinite(loss):  # a step that breaks the weights shows up as the next loss
        b.optimizer.step()
    return loss


# Suggestions ----------------------------------------------------------------------------------------
def steepest(frame: pd.DataFrame) -> float | None:
    """The LR where the smoothed loss falls fastest per unit of log(LR)."""
    lr, loss = _trimmed(frame)
    if len(lr) < 3:
        return None
    slope = np.gradient(loss, np.log(lr))
    i = int(np.argmin(slope))
    falls = slope[i] < -1e-9 * float(np.abs(loss).max())  # not just rounding on a flat curve
    return float(lr[i]) if falls else None


def valley_lr(frame: pd.DataFrame, tolerance: float = VALLEY_TOLERANCE) -> float | None:
    """fastai's valley: halfway along the longest decreasing subsequence of the smoothed loss (far
    enough past where it starts to fall to move fast, well short of where it blows up). Unlike
    fastai, a fall counts only if it exceeds `tolerance` x the drop to the curve's minimum: full-batch
    curves here have no noise, so a flat start that creeps down would otherwise be the longest
    'valley' (the blow-up after the minimum is left out of the scale)."""
    lr, loss = _trimmed(frame)
    n = len(loss)
    if n < 3:
        return None
    bottom = int(np.argmin(loss))
    tol = tolerance * float(loss[:bottom + 1].max() - loss[bottom])
    run = np.ones(n, dtype=int)
    for i in range(1, n):
        higher = loss[:i] > loss[i] + tol
        if higher.any():
            run[i] = run[:i][higher].max() + 1
    last = int(np.argmax(run))  # the first index reaching the longest run, as fastai keeps it
    if run[last] < 2:
        return None
    first = last - int(run[last])
    third = (last - first) / 3
    return float(lr[max(0, first + int(third) + int(third / 2))])  # fastai's index, kept >= 0


def _trimmed(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The smoothed curve without its first 10% (smoothing warm-up) and last 5 points (the blow-up),
    as fastai trims it; short curves are kept whole."""
    lr, loss = frame["lr"].to_numpy(), frame["smoothed"].to_numpy()
    n = len(lr)
    if n >= 20:
        lr, loss = lr[n // 10:n - 5], loss[n // 10:n - 5]
    return lr, loss
