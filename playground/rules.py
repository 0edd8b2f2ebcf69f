"""The rules every run follows, in one place: when it has diverged, when it stops early, which
weights are the best checkpoint, and how it ends.

`RunRules` holds only numbers and decisions. The owner of the weights (a `Trainer`, or one row of a
batched race `Stack`) copies the best weights when told to and restores them through a callback,
so a solo run and a race contender stop, pick and restore exactly alike.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from torch.optim import Optimizer
    from torch.optim.lr_scheduler import ReduceLROnPlateau

    from playground.config import RunConfig

CHECK_EVERY = 10  # a step in depth (update size, per-layer norms, best checkpoint) every 10th
EXPLODE = 1e3  # a loss this many times its first value (or above 1e3 absolute) has diverged
ENDED = ("completed", "diverged", "early_stopped", "stopped")  # a run's final statuses
CALLBACKS = ("cfg", "restore", "weights_finite", "on_diverge")  # what a rules' state leaves out
NON_FINITE_WEIGHTS = "the weights became non-finite"
Metrics = TypeVar("Metrics")
Row = TypeVar("Row")


def lr_of(optimizer: Optimizer) -> float:
    """The learning rate an optimizer (or a race contender's lr holder) steps with now."""
    return float(optimizer.param_groups[0]["lr"])


def epoch_mean(losses: list[float]) -> float | None:
    """The epoch's mean training loss (None for an epoch without steps); empties `losses` for
    the next epoch."""
    if not losses:
        return None
    mean = sum(losses) / len(losses)
    losses.clear()
    return mean


def checkpoint_step(step: Any) -> Any:
    """Whether a step may become the best checkpoint: the first and every CHECK_EVERY-th. Copying
    every weight on every improving step cost a memory-bound model (the latent MLP at 64 px) ~25%
    of its speed; the measuring step copies the weights anyway (docs/benchmarks.md). Takes a
    step number or a numpy array of them (the charts mark the checkpoint from the history)."""
    return (step % CHECK_EVERY == 0) | (step == 1)


def _nothing() -> None:
    """The default restore: an owner without a best copy has nothing to put back."""


def _finite() -> bool:
    return True


class RunRules:
    """Divergence, early stopping, best weights and finishing for one run."""

    def __init__(self, cfg: RunConfig, *, by_validation: bool = False,
                 restore: Callable[[], None] = _nothing,
                 weights_finite: Callable[[], bool] = _finite) -> None:
        self.cfg = cfg
        self.by_validation = by_validation  # best weights chosen per epoch on the validation loss
        self.restore, self.weights_finite = restore, weights_finite
        self.status, self.reason = "ready", ""
        self.diverged_at: int | None = None
        self.best_loss, self.has_best = math.inf, False
        self.best_epoch: int | None = None  # the epoch whose weights are the best checkpoint
        self.best_step: int | None = None  # the step whose weights are (validated: the epoch end)
        self.explode_at = math.inf
        self._epoch_best, self.bad_epochs = math.inf, 0
        self._best_score = math.inf  # the monitored value at the best epoch, as "lower is better"
        self.best_accuracy: float | None = None  # validation accuracy of the best epoch, if known
        self.events: list[tuple[int, str, float]] = []  # (step, kind, value) for the charts
        self.on_diverge: Callable[[int], None] | None = None  # the owner's autopsy, before restore

    @property
    def done(self) -> bool:
        return self.status in ENDED

    def state_dict(self) -> dict:
        """What a run carried on elsewhere needs of the rules (plain values; not the callbacks)."""
        return {k: v for k, v in vars(self).items() if k not in CALLBACKS}

    def load_state_dict(self, state: dict) -> None:
        for k, v in state.items():
            setattr(self, k, list(v) if k == "events" else v)

    # Divergence -----------------------------------------------------------------------------
    def healthy(self, step: int, loss: float, grad_norm: float, lr: float) -> bool:
        """False (and the run ends as diverged) on a non-finite loss or gradient, or a loss that
        exploded past EXPLODE x its first value."""
        if -math.inf < loss < self.explode_at < math.inf and -math.inf < grad_norm < math.inf:
            return True  # the usual case, in one comparison chain (the checks below agree)
        if not math.isfinite(self.explode_at) and math.isfinite(loss):
            self.explode_at = EXPLODE * max(loss, 1.0)
        if not math.isfinite(loss):
            return self.diverge(step, f"loss became {loss}", lr)
        if not math.isfinite(grad_norm):
            return self.diverge(step, f"the gradient became {grad_norm}", lr)
        if loss > self.explode_at:
            return self.diverge(step, f"loss exploded to {loss:.3g}", lr)
        return True

    def diverge(self, step: int, what: str, lr: float) -> bool:
        """Record where and why the run blew up, with a hint that teaches; always False."""
        self.diverged_at = step
        self.reason = f"diverged at step {step}: {what} with lr={lr:.4g}; try a learning rate 10x lower"
        self.events.append((step, "diverged", lr))
        if self.on_diverge is not None:
            self.on_diverge(step)
        self.finish("diverged", step, lr)
        return False

    def reopen(self) -> None:
        """Let an ended run carry on (a retry after divergence): the rules watch it afresh; its
        events, first loss and best weights stay."""
        self.status, self.reason, self.diverged_at, self.bad_epochs = "ready", "", None, 0

    def check_update(self, step: int, update_norm: float, lr: float) -> None:
        """An update of non-finite size left non-finite weights: the run has diverged."""
        if not math.isfinite(update_norm):
            self.diverge(step, NON_FINITE_WEIGHTS, lr)

    # Best weights ---------------------------------------------------------------------------
    def step_best(self, loss: float, step: int) -> bool:
        """Whether the weights that gave this training loss are the best checkpoint so far (the
        owner then copies them before the update): the lowest loss of the checkpoint steps (the
        first and every CHECK_EVERY-th); validated runs pick per epoch instead."""
        if loss >= self.best_loss or self.by_validation or not checkpoint_step(step):
            return False
        self.best_loss, self.has_best, self.best_step = loss, True, step
        return True

    def epoch_best(self, val_loss: float, epoch: int, val_accuracy: float | None = None) -> bool:
        """Whether this epoch is the best so far by the monitored value (the validation loss, or
        with monitor=accuracy the validation accuracy); the owner then copies the weights."""
        score = self.score(val_loss, val_accuracy)
        if not score < self._best_score:
            return False
        self._best_score, self.best_loss, self.has_best, self.best_epoch = score, val_loss, True, epoch
        self.best_accuracy = val_accuracy
        return True

    def score(self, loss: float, accuracy: float | None) -> float:
        """The monitored value as "lower is better": the loss, or minus the accuracy."""
        if self.cfg.monitor == "accuracy" and accuracy is not None:
            return -accuracy
        return loss

    # Closing a step and an epoch ---------------------------------------------------------------
    def close_step(self, step: int, last: bool, epoch_ends: bool,
                   end_epoch: Callable[[], Metrics], record: Callable[[Metrics | None], Row],
                   optimizer: Optimizer) -> Row:
        """The order every step closes in: the epoch's end when it is due (not after divergence;
        validation may draw dropout masks), then the history row, then finishing after the last
        step. `end_epoch` returns what `record` puts in the row (None when no epoch ended)."""
        metrics = end_epoch() if (last or epoch_ends) and self.status not in ENDED else None
        row = record(metrics)
        if last and self.status not in ENDED:
            self.finish("completed", step, lr_of(optimizer))
        return row

    def close_epoch(self, epoch: int, step: int, watched: float, optimizer: Optimizer,
                    plateau: ReduceLROnPlateau | None, accuracy: float | None = None) -> None:
        """The epoch's end: a per-epoch (plateau) schedule steps on the watched loss, a cut it
        makes is an event, then early stopping counts the epoch."""
        if plateau is not None:
            before = lr_of(optimizer)
            plateau.step(watched)
            if lr_of(optimizer) < before:
                self.events.append((step, "plateau", lr_of(optimizer)))
        self.end_epoch(epoch, step, watched, lr_of(optimizer), accuracy)

    # Early stopping -------------------------------------------------------------------------
    def end_epoch(self, epoch: int, step: int, watched: float, lr: float,
                  accuracy: float | None = None) -> None:
        """Count epochs without an improvement of at least min_delta in the monitored value (the
        watched loss, or the validation accuracy); stop after `patience`."""
        cfg = self.cfg
        if cfg.patience <= 0:
            return
        score = self.score(watched, accuracy)
        if self._epoch_best - score > cfg.min_delta:
            self._epoch_best, self.bad_epochs = score, 0
            return
        self.bad_epochs += 1
        if self.bad_epochs >= cfg.patience:
            what = "validation accuracy" if score != self.score(watched, None) else "loss"
            self.reason = (f"early stopped after epoch {epoch}: no {what} improvement above "
                           f"{cfg.min_delta:g} for {cfg.patience} epochs; the best weights are restored")
            self.events.append((step, "early_stop", abs(score)))
            self.finish("early_stopped", step, lr)

    # Ending ---------------------------------------------------------------------------------
    def finish(self, status: str, step: int, lr: float) -> None:
        """End the run; after divergence or early stopping the best weights come back, and a run
        that completed with non-finite weights counts as diverged."""
        self.status = status
        if status in ("diverged", "early_stopped") and self.has_best:
            self.restore()
        if status == "completed" and not self.weights_finite():
            self.diverge(step, NON_FINITE_WEIGHTS, lr)
