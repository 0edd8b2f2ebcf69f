"""Schedule registry: each entry builds a real torch LR scheduler, and `lr_at` previews the same
curve as a pure function of the step (checked against torch in the tests).

Step-based schedulers are stepped after every optimizer step; `plateau` after every epoch with the
epoch's mean loss. `lr_at(cfg, t)` is the learning rate used by update t (0-based).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from torch.optim import Optimizer, lr_scheduler

if TYPE_CHECKING:
    from playground.config import RunConfig

WARMUP_START = 0.01  # warm-up begins at 1% of the learning rate


@dataclass(frozen=True)
class ScheduleSpec:
    """One schedule: its torch scheduler, its pure preview (None when it depends on the loss)."""

    make: Callable[[Optimizer, RunConfig], Any]
    lr_at: Callable[[RunConfig, int], float] | None
    uses: tuple[str, ...]
    doc: str
    per_epoch: bool = False


def _cyclic_low(c: RunConfig) -> float:
    return c.min_lr if 0 < c.min_lr < c.lr else c.lr / 10


def _warmup_cosine(o: Optimizer, c: RunConfig) -> Any:
    cosine = lr_scheduler.CosineAnnealingLR(o, T_max=max(1, c.total_steps - c.warmup),
                                            eta_min=min(c.min_lr, c.lr))
    if c.warmup == 0:
        return cosine
    warm = lr_scheduler.LinearLR(o, start_factor=WARMUP_START, end_factor=1.0, total_iters=c.warmup)
    return lr_scheduler.SequentialLR(o, [warm, cosine], milestones=[c.warmup])


def _lr_warmup_cosine(c: RunConfig, t: int) -> float:
    if t < c.warmup:
        return c.lr * (WARMUP_START + (1 - WARMUP_START) * t / c.warmup)
    return _cos(c.lr, min(c.min_lr, c.lr), t - c.warmup, max(1, c.total_steps - c.warmup))


def _cos(hi: float, lo: float, t: int, period: int) -> float:
    return lo + (hi - lo) * (1 + math.cos(math.pi * t / period)) / 2


def _onecycle(o: Optimizer, c: RunConfig) -> Any:
    return lr_scheduler.OneCycleLR(o, max_lr=c.lr, total_steps=max(2, c.total_steps),
                                   cycle_momentum=False)


def _lr_onecycle(c: RunConfig, t: int) -> float:
    total = max(2, c.total_steps)
    start, end = c.lr / 25, c.lr / 25 / 1e4
    up = float(0.3 * total) - 1
    if t <= up:
        return _cos(start, c.lr, t, up) if up > 0 else c.lr  # cosine annealing from start up
    return _cos(c.lr, end, t - up, total - 1 - up)


def _lr_cyclic(c: RunConfig, t: int) -> float:
    low = _cyclic_low(c)
    cycle = math.floor(1 + t / (2 * c.step_size))
    x = abs(t / c.step_size - 2 * cycle + 1)
    return low + (c.lr - low) * max(0.0, 1 - x)


SCHEDULES: dict[str, ScheduleSpec] = {
    "constant": ScheduleSpec(lambda o, c: None, lambda c, t: c.lr, (),
                             "The same learning rate throughout."),
    "step": ScheduleSpec(
        lambda o, c: lr_scheduler.StepLR(o, step_size=c.step_size, gamma=c.gamma),
        lambda c, t: c.lr * c.gamma ** (t // c.step_size), ("step_size", "gamma"),
        "Multiply the LR by gamma every step_size steps: a staircase."),
    "exponential": ScheduleSpec(
        lambda o, c: lr_scheduler.ExponentialLR(o, gamma=c.gamma ** (1 / c.step_size)),
        lambda c, t: c.lr * c.gamma ** (t / c.step_size), ("step_size", "gamma"),
        "A smooth decay: the LR falls by gamma over every step_size steps."),
    "cosine": ScheduleSpec(
        lambda o, c: lr_scheduler.CosineAnnealingLR(o, T_max=max(1, c.total_steps),
                                                    eta_min=min(c.min_lr, c.lr)),
        lambda c, t: _cos(c.lr, min(c.min_lr, c.lr), t, max(1, c.total_steps)), ("min_lr",),
        "Half a cosine from the LR down to min_lr over the whole run."),
    "onecycle": ScheduleSpec(_onecycle, _lr_onecycle, (),
                             "Warm up to the LR for 30% of the run, then anneal far below it."),
    "warmup_cosine": ScheduleSpec(_warmup_cosine, _lr_warmup_cosine, ("warmup", "min_lr"),
                                  "Linear warm-up for `warmup` steps, then cosine decay: the "
                                  "transformer recipe."),
    "cyclic": ScheduleSpec(
        lambda o, c: lr_scheduler.CyclicLR(o, base_lr=_cyclic_low(c), max_lr=c.lr,
                                           step_size_up=c.step_size, cycle_momentum=False),
        _lr_cyclic, ("step_size", "min_lr"),
        "Triangle waves between a low LR and the LR, step_size steps each way."),
    "plateau": ScheduleSpec(
        lambda o, c: lr_scheduler.ReduceLROnPlateau(o, factor=c.gamma, patience=c.step_size),
        None, ("step_size", "gamma"),
        "Multiply the LR by gamma when the epoch loss stops improving for step_size epochs.",
        per_epoch=True),
}


def make_scheduler(optimizer: Optimizer, cfg: RunConfig) -> Any:
    """The configured scheduler, or None for a constant LR."""
    return SCHEDULES[cfg.schedule].make(optimizer, cfg)


def lr_at(cfg: RunConfig, t: int) -> float | None:
    """Learning rate of update t (0-based) without building anything; None for plateau."""
    fn = SCHEDULES[cfg.schedule].lr_at
    return None if fn is None else fn(cfg, t)


def lr_curve(cfg: RunConfig, points: int = 200) -> list[tuple[int, float]]:
    """A preview of the schedule as (step, lr) pairs, at most `points` of them."""
    total = max(1, cfg.total_steps)
    stride = max(1, total // points)
    if lr_at(cfg, 0) is None:
        return []
    return [(t + 1, lr_at(cfg, t)) for t in range(0, total, stride)]


def rescale(optimizer: Optimizer, scheduler: Any, factor: float) -> None:
    """Multiply the whole schedule by `factor` from the next step: a live learning-rate change."""
    for group in optimizer.param_groups:
        for key in ("lr", "initial_lr", "max_lr", "min_lr"):
            if key in group and isinstance(group[key], float | int):
                group[key] = group[key] * factor
    for sched in _all_schedulers(scheduler):
        for attr in ("base_lrs", "max_lrs", "min_lrs", "_last_lr"):
            if isinstance(getattr(sched, attr, None), list):
                setattr(sched, attr, [v * factor for v in getattr(sched, attr)])
        if isinstance(getattr(sched, "eta_min", None), float | int):
            sched.eta_min *= factor


def _all_schedulers(scheduler: Any) -> list[Any]:
    """The scheduler and any it chains (SequentialLR)."""
    if scheduler is None:
        return []
    return [scheduler, *getattr(scheduler, "_schedulers", [])]
