"""The training engine: `Trainer` runs the textbook loop (zero_grad, forward, loss, backward, step)
one optimizer step at a time, and `train()` runs it all. `build(config)` (from the task registry)
makes the ingredients real.

The loop adds only what a learner needs to see: a history row per step (loss, lr, grad norm,
update-to-weight ratio), optional clipping, and the run rules (`playground.rules`): divergence,
early stopping, the best weights, finishing.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator
from dataclasses import replace
from time import perf_counter
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from playground import sprites
from playground.config import RunConfig
from playground.devices import move, resolve
from playground.history import HistoryRows, row_type
from playground.ingredients import Built, data_tensors
from playground.layer_stats import LayerStats, norms
from playground.losses import LOSSES
from playground.memory_use import expected_bytes, storage_bytes
from playground.results import TrainResult
from playground.rules import CHECK_EVERY, ENDED, RunRules, epoch_mean
from playground.schedules import SCHEDULES, rescale
from playground.tasks import TASKS, build
from playground.tensor_ops import generator_state, lean_step, total_norm
from playground.weight_copies import WeightCopies

__all__ = ["RATIO_EVERY", "TrainResult", "Trainer", "build", "train"]

RATIO_EVERY = CHECK_EVERY  # the update-to-weight ratio needs a weight copy: every 10th step


class Trainer:
    """One run, advanced one optimizer step at a time so a worker can pause, step and steer it."""

    def __init__(self, cfg: RunConfig, built: Built | None = None, device: str | None = None) -> None:
        self.cfg = cfg
        self.b = built or build(cfg)
        if device is not None:  # "auto", "cpu", "cuda", "mps": model and data move there
            self.b = move(self.b, resolve(device))
        self._device = self.b.device if self.b.device.type != "cpu" else None
        self.params = [p for p in self.b.model.parameters() if p.requires_grad]
        self.copies = WeightCopies(self.params)  # the best weights and a scratch buffer
        self._step = lean_step(self.b.optimizer)  # optimizer.step(), minus torch's wrappers
        self._clip = cfg.clip_grad_norm
        self.rules = RunRules(cfg, by_validation=self.b.evaluate is not None,
                              restore=self.copies.restore_best, weights_finite=self.copies.finite)
        self.layers = LayerStats(self)  # per-parameter norms every RATIO_EVERY steps; the autopsy
        self._total_steps = cfg.total_steps
        self.to_pixels = LOSSES[cfg.loss].to_pixels if TASKS[cfg.task].sprite else None
        self._epoch_len = len(self.b.loader)
        self._in_epoch = 0
        self.per_epoch = SCHEDULES[cfg.schedule].per_epoch
        # Whether anything reads an epoch's close (validation, a per-epoch schedule, early stopping,
        # per-epoch columns): a full-batch sprite run closes an epoch every step, for nothing.
        self._watch_epochs = bool(self.b.evaluate is not None or self.b.extra_columns
                                  or (self.b.scheduler is not None and self.per_epoch)
                                  or cfg.patience > 0)
        self.columns = TASKS[cfg.task].columns
        assert self.columns[len(self.columns) - len(self.b.extra_columns):] == self.b.extra_columns
        self._row = row_type(self.columns)
        self.rows = HistoryRows(self.columns)
        self.step_count, self.epoch, self.seconds = 0, 0, 0.0
        self._batches: Iterator = iter(())
        self._epoch_losses: list[float] = []
        self.released = False  # True once release() dropped the weights (see the memory budget)
        self._epoch_rng: Tensor | None = None  # the batch order's generator when the epoch opened
        # dropout draws from torch's global generator: a run that has dropout keeps that
        # generator's state as its own between steps, so nothing else that draws meanwhile (a
        # build, another run taking turns in the same process) changes its masks
        self._rng = (torch.Generator().manual_seed(cfg.seed + 4).get_state()
                     if any(isinstance(m, nn.Dropout) and m.p > 0 for m in self.b.model.modules())
                     else None)

    # What the rules know, read by name --------------------------------------------------------
    status = property(lambda self: self.rules.status)
    reason = property(lambda self: self.rules.reason)
    diverged_at = property(lambda self: self.rules.diverged_at)
    best_loss = property(lambda self: self.rules.best_loss)
    best_epoch = property(lambda self: self.rules.best_epoch)
    events = property(lambda self: self.rules.events)
    best_params = property(lambda self: self.copies.best)  # the best checkpoint's tensors

    @property
    def done(self) -> bool:
        return self.rules.done

    @property
    def lr(self) -> float:
        return float(self.b.optimizer.param_groups[0]["lr"])

    # The loop -------------------------------------------------------------------------------
    def step(self) -> Any | None:
        """One optimizer step; returns its history row (a named tuple), or None once the run ended."""
        t0 = perf_counter()
        batch = self.next_batch()
        return None if batch is None else self.close_step(self._update(*batch), perf_counter() - t0)

    def next_batch(self) -> tuple | None:
        """The next step's batch (opening an epoch when one is used up), with the run's dropout
        generator in place; None once the run ended. `step` = next_batch, update, close_step."""
        if self.rules.status in ENDED:
            return None
        batch = next(self._batches, None) or self._next_epoch()  # a batch is a non-empty tuple
        if batch is None:
            return None
        self.rules.status = "running"
        if self._device is not None:  # x.to(device), y.to(device): a no-op for data moved once
            batch = tuple(t.to(self._device, non_blocking=True) for t in batch)
        if self._rng is not None:
            torch.set_rng_state(self._rng)
        return batch

    def close_step(self, values: tuple, seconds: float) -> Any:
        """After the update (`values` from `apply`): counters, then the step closes as every run's
        does (`RunRules.close_step`): the epoch's end, the history row, finishing."""
        self.seconds += seconds
        self._in_epoch += 1
        return self.rules.close_step(self.step_count, self.step_count >= self._total_steps,
                                     self._in_epoch >= self._epoch_len, self._end_epoch,
                                     lambda metrics: self._record(values, metrics), self.b.optimizer)

    def _record(self, values: tuple, metrics: dict[str, float] | None) -> Any:
        """The step's history row, with the epoch's columns when it closed one."""
        extra = ([metrics.get(c, math.nan) for c in self.b.extra_columns] if metrics is not None
                 else [math.nan] * len(self.b.extra_columns))
        if self._rng is not None:
            self._rng = torch.get_rng_state()
        values = (*values, self.seconds, *extra)
        self.rows.append(values)  # numpy reads a plain tuple ~2x faster than a named one
        return tuple.__new__(self._row, values)  # the named tuple, without its argument parsing

    def _next_epoch(self) -> tuple[Tensor, Tensor] | None:
        """Open the next epoch (the last one was closed by its final step)."""
        self._in_epoch = 0
        if not self.b.model.training:  # only image() flips it, and it flips it back: skip ~20 us
            self.b.model.train()
        if self._epoch_len > 1:  # the batch order's seed, so a run can be carried on mid-epoch
            self._epoch_rng = generator_state(self.b.loader)
        self._batches = iter(self.b.loader)
        self.epoch += 1
        return next(self._batches)

    def _update(self, x: Tensor, y: Tensor) -> tuple:
        """zero_grad, forward, loss, backward, (clip), step: the textbook update, instrumented
        (zero_grad and loss.item() as the run's `loop` has them: see playground/bugs/effects.py)."""
        b, rules, step = self.b, self.rules, self.step_count + 1
        optimizer = b.optimizer
        lr = float(optimizer.param_groups[0]["lr"])
        if self.cfg.optimizer == "lbfgs":
            loss_value = float(optimizer.step(self._closure(x, y)).detach())
            grad_norm = self._grad_norm()
            if not rules.healthy(step, loss_value, grad_norm, lr):
                return self._last_row(loss_value, lr, grad_norm)
            rules.step_best(loss_value, step)  # the loss is of weights already gone: no copy
            return self._after_step(loss_value, lr, grad_norm, math.nan)
        b.loop.zero_grad(optimizer)
        loss = b.criterion(b.model(x), y)
        loss.backward()
        return self.apply(loss)

    def apply(self, loss: Tensor) -> tuple:
        """After backward: check health, keep the best weights, step (every 10th measuring the
        update's size); the step's row values. (loop_lines runs the lines before it one by one.)"""
        rules, step, optimizer, b = self.rules, self.step_count + 1, self.b.optimizer, self.b
        lr = float(optimizer.param_groups[0]["lr"])
        loss_value = b.loop.item(loss, self.epoch)
        measure = not step % RATIO_EVERY
        grad_norm = self._grad_norm(measure)
        if not rules.healthy(step, loss_value, grad_norm, lr):
            return self._last_row(loss_value, lr, grad_norm)
        kept = self._keep_best(loss_value, step)
        if not measure:
            self._step()
            return self._after_step(loss_value, lr, grad_norm, math.nan)
        before = self.copies.before_update(kept)
        self._step()
        return self._after_step(loss_value, lr, grad_norm, self._update_ratio(before))

    def _last_row(self, loss: float, lr: float, grad_norm: float) -> tuple:
        """The step that diverged: its loss and gradient are recorded (so the blow-up is drawn),
        but the optimizer does not step and the weights stay the last good ones."""
        self.step_count += 1
        return (self.step_count, self.epoch, loss, lr, grad_norm, math.nan)

    def _closure(self, x: Tensor, y: Tensor) -> Callable[[], Tensor]:
        """LBFGS re-evaluates the loss several times per step, as torch documents."""
        def closure() -> Tensor:
            self.b.loop.zero_grad(self.b.optimizer)
            loss = self.b.criterion(self.b.model(x), y)
            loss.backward()
            return loss
        return closure

    def _after_step(self, loss: float, lr: float, grad_norm: float, ratio: float) -> tuple:
        """Advance the schedule and counters; the values are what the step saw (`step` adds time)."""
        self.step_count += 1
        if self._watch_epochs:
            self._epoch_losses.append(loss)
        if self.b.scheduler is not None and not self.per_epoch:
            self.b.scheduler.step()
        return (self.step_count, self.epoch, loss, lr, grad_norm, ratio)

    def _grad_norm(self, each: bool = False) -> float:
        """Total gradient norm; clipping (when on) returns the same norm before it rescales. With
        `each` (a measuring step) each tensor's norm goes to LayerStats, saving it a second pass."""
        grads = [p.grad for p in self.params if p.grad is not None]
        if not grads:
            return 0.0
        if self._clip > 0:
            return float(nn.utils.clip_grad_norm_(self.params, self._clip))
        if each and len(grads) == len(self.params):
            total, self.layers.grad_each = norms(grads)
            return total
        return total_norm(grads)

    def _keep_best(self, loss: float, step: int) -> bool:
        """Copy the weights that produced the best checkpoint's loss (before they are updated)."""
        if not self.rules.step_best(loss, step):
            return False
        self.copies.keep_best()
        return True

    def _update_ratio(self, before: list[Tensor]) -> float:
        """||update|| / ||weights||: about 1e-3 is healthy; 1e-1 and up means too large a LR.
        (The scratch buffer may be `before` itself: LayerStats reads it, then overwrites it.)"""
        copies = self.copies
        num, den = self.layers.update(self.step_count + 1, copies.weights, before, copies.scratch())
        self.rules.check_update(self.step_count + 1, num, self.lr)
        return num / den if den > 0 else math.nan

    def _end_epoch(self) -> dict[str, float]:
        """Per-epoch work: validation (if the lesson has it), then the plateau schedule and early
        stopping watch the validation loss, or else the epoch's mean training loss."""
        if not self._watch_epochs:  # nothing reads it: skip the bookkeeping (the row gets no extras)
            return {}
        mean = epoch_mean(self._epoch_losses)
        if mean is None:
            return {}
        metrics = {"epoch_loss": mean, **(self.b.probe(self.b.model) if self.b.probe else {})}
        if self.b.evaluate is not None:
            metrics.update(self.b.evaluate(self.b.model))
            if self.rules.epoch_best(metrics["val_loss"], self.epoch, metrics.get("val_accuracy")):
                self.rules.best_step = self.step_count  # the epoch's last step: its weights
                self.copies.keep_best()
        self.rules.close_epoch(self.epoch, self.step_count, metrics.get("val_loss", mean),
                               self.b.optimizer, self.b.scheduler if self.per_epoch else None,
                               metrics.get("val_accuracy"))
        metrics["bad_epochs"] = float(self.rules.bad_epochs)
        return metrics

    # Carrying a run on elsewhere ------------------------------------------------------------
    @property
    def at_epoch_end(self) -> bool:
        """Between epochs (a run's state is smallest here; it can be taken at any step)."""
        return self._in_epoch == 0 or self._in_epoch >= self._epoch_len

    def state_dict(self) -> dict[str, Any]:
        """Everything a fresh Trainer of the same config needs to carry this run on exactly (weights,
        optimizer and schedule state, the batch order's generator, the dropout generator's state,
        the counters, the run rules and the best weights), at any step: mid-epoch it
        holds the epoch's batch-order seed and how many of its batches were used. Plain tensors and
        numbers only, so it pickles and `torch.save(..., weights_only)` loads it."""
        mid = not self.at_epoch_end
        loader_rng = self._epoch_rng if mid else generator_state(self.b.loader)
        return copy.deepcopy({  # a copy: the live tensors move on with the next step
            "model": self.b.model.state_dict(), "optimizer": self.b.optimizer.state_dict(),
            "scheduler": self.b.scheduler.state_dict() if self.b.scheduler else None,
            "loader_rng": loader_rng, "in_epoch": self._in_epoch if mid else 0,
            "epoch_losses": list(self._epoch_losses) if mid else [],
            "torch_rng": self._rng, "step": self.step_count, "epoch": self.epoch,
            "seconds": self.seconds, "base_lr": self.base_lr, "rules": self.rules.state_dict(),
            "best": self.copies.best})

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Carry on a run from `state_dict`: the next step is the one the original would take."""
        self.b.model.load_state_dict(state["model"])
        self.b.optimizer.load_state_dict(state["optimizer"])
        if self.b.scheduler is not None and state["scheduler"] is not None:
            self.b.scheduler.load_state_dict(state["scheduler"])
        if state["loader_rng"] is not None:
            self.b.loader.generator.set_state(state["loader_rng"])
        self.step_count, self.epoch, self.seconds = state["step"], state["epoch"], state["seconds"]
        self._base_lr = state["base_lr"]
        self.rules.load_state_dict(state["rules"])
        self.copies.load_best(state["best"])
        self._in_epoch, self._batches, self._epoch_losses = 0, iter(()), list(state["epoch_losses"])
        if state["in_epoch"]:  # mid-epoch: the same batch order, less the batches already used
            self._epoch_rng = state["loader_rng"]
            self._batches = iter(self.b.loader)
            for _ in range(state["in_epoch"]):
                next(self._batches)
            self._in_epoch = state["in_epoch"]
        self._rng = state["torch_rng"]

    # Controls and views ----------------------------------------------------------------------
    def stop(self) -> None:
        """End the run early at the user's request."""
        if not self.done:
            self.rules.finish("stopped", self.step_count, self.lr)

    def set_lr(self, lr: float) -> None:
        """Change the learning rate from the next step on, keeping the schedule's shape."""
        current = self.base_lr
        if lr <= 0 or not math.isfinite(lr) or lr == current:
            return
        rescale(self.b.optimizer, self.b.scheduler, lr / current)
        self._base_lr = lr
        self.rules.events.append((self.step_count, "lr", lr))

    @property
    def base_lr(self) -> float:
        """The learning rate the user set (the schedule scales it)."""
        return getattr(self, "_base_lr", self.cfg.lr)

    def view(self) -> dict[str, Any]:
        """The lesson's pictures' data (confusion matrix, line); after the run, the test report."""
        view = self.b.view(self.b.model) if self.b.view is not None else {}
        if self.done and self.b.test is not None:
            view["test"] = self.b.test(self.b.model)
        return view

    def tensors(self) -> list[Tensor]:
        """Every tensor this run holds: weights, gradients, optimizer state, best copy, data."""
        found = [*self.params, *(p.grad for p in self.params if p.grad is not None)]
        found += [v for state in self.b.optimizer.state.values() for v in state.values()
                  if isinstance(v, Tensor)]
        found += self.copies.held()
        found += [t for t in (*data_tensors(self.b.loader), self.b.target) if isinstance(t, Tensor)]
        return found

    @property
    def nbytes(self) -> int:
        """Bytes of tensor storage this run holds (each storage counted once); 0 once released."""
        return 0 if self.released else storage_bytes(self.tensors())

    @property
    def expected_nbytes(self) -> int:
        """What the run will hold once stepping (memory_use.expected_bytes); 0 once released."""
        return 0 if self.released else expected_bytes(self.nbytes, self.params,
                                                       data_tensors(self.b.loader))

    def release(self) -> None:
        """Drop the weights, optimizer and data of an ended run; its history and events stay, so
        its curve can still be drawn (a busy server frees old runs' memory this way)."""
        if not self.done:
            self.stop()
        self.released = True
        self.b = replace(self.b, model=nn.Module(), loader=None, optimizer=None, scheduler=None,
                         target=None, evaluate=None, view=None, test=None)
        self.params = []
        self.copies.release()
        self._batches = iter(())

    def restore_best(self) -> bool:
        """Load the best weights kept so far (the best checkpoint); False if there are none."""
        if self.copies.best is None or self.released:
            return False
        self.copies.restore_best()
        return True

    def image(self) -> np.ndarray | None:
        """The current generated sprite as uint8 (H, W, 4): outputs mapped to [0, 1] for display."""
        if self.b.target is None:
            return None
        model = self.b.model
        model.eval()
        with torch.no_grad():
            pixels = self.to_pixels(model.image())
        model.train()
        return sprites.from_tensor(pixels)

    def result(self) -> TrainResult:
        """Package the run for callers of `train()`."""
        return TrainResult.of(self)

def train(cfg: RunConfig, on_step: Callable[[Trainer, Any], None] | None = None,
          should_stop: Callable[[], bool] | None = None) -> TrainResult:
    """Run the whole loop; `on_step(trainer, row)` sees every step, `should_stop()` can end it."""
    trainer = Trainer(cfg)
    while not trainer.done:
        if should_stop is not None and should_stop():
            trainer.stop()
            break
        row = trainer.step()
        if row is not None and on_step is not None:
            on_step(trainer, row)
    return trainer.result()
