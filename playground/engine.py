"""The training engine: `build(config)` makes the ingredients real, `Trainer` runs the textbook loop
(zero_grad, forward, loss, backward, step) one optimizer step at a time, and `train()` runs it all.

The loop adds only what a learner needs to see: a history row per step (loss, lr, grad norm,
update-to-weight ratio), optional clipping, early stopping, the best weights, and divergence
detection that stops the run and records where and why.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from playground import sprites
from playground.config import RunConfig
from playground.history import HistoryRows
from playground.losses import LOSSES
from playground.models import make_model
from playground.optim import make_optimizer
from playground.schedules import SCHEDULES, make_scheduler, rescale

COLUMNS = ["step", "epoch", "loss", "lr", "grad_norm", "update_ratio", "seconds"]
RATIO_EVERY = 10  # the update-to-weight ratio needs a weight copy: measure it every 10th step
EXPLODE = 1e3  # a loss this many times its first value (or above 1e3 absolute) has diverged


class Loader:
    """Yields (inputs, targets) batches; one pass is one epoch; shuffles with its own seeded RNG."""

    def __init__(self, inputs: Tensor, targets: Tensor, batch_size: int, seed: int) -> None:
        self.inputs, self.targets = inputs, targets
        self.batch_size = min(batch_size, len(inputs))
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return math.ceil(len(self.inputs) / self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        n = len(self.inputs)
        if self.batch_size >= n:  # full batch: no shuffle needed, no copy made
            yield self.inputs, self.targets
            return
        order = torch.randperm(n, generator=self.generator)
        for i in range(0, n, self.batch_size):
            idx = order[i:i + self.batch_size]
            yield self.inputs[idx], self.targets[idx]


@dataclass
class Built:
    """The ingredients of one run, made real from a config."""

    config: RunConfig
    model: nn.Module
    loader: Loader
    criterion: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    target: Tensor | None  # (4, H, W) in [0, 1] for sprites; None for the other lessons
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    evaluate: Callable[[nn.Module], dict[str, float]] | None = None  # per-epoch validation
    view: Callable[[nn.Module], dict[str, Any]] | None = None  # what the page draws besides curves
    extra_columns: tuple[str, ...] = ()  # per-epoch metrics added to every history row


def _data_tensors(loader: Any) -> tuple:
    """The training data behind our Loader or a torch DataLoader over a TensorDataset."""
    if isinstance(loader, Loader):
        return loader.inputs, loader.targets
    return tuple(getattr(getattr(loader, "dataset", None), "tensors", ()))


def target_array(cfg: RunConfig) -> np.ndarray:
    """The sprite the config names, as uint8 (size, size, 4)."""
    source = cfg.pixels if cfg.sprite == "custom" else cfg.sprite
    return sprites.load_sprite(source, cfg.size)


def build(cfg: RunConfig, target: np.ndarray | None = None) -> Built:
    """Build model, data, loss, optimizer and scheduler deterministically from `cfg.seed`."""
    if cfg.task != "generate":
        from playground.lessons.build import build_lesson

        return build_lesson(cfg)
    arr = target_array(cfg) if target is None else target
    image = sprites.to_tensor(arr)
    model = make_model(cfg)
    if cfg.model == "coord":
        inputs, targets = model.grid, image.reshape(4, -1).T.contiguous()
    else:
        inputs, targets = model.z, image.unsqueeze(0)
    loader = Loader(inputs, targets, cfg.batch_size, cfg.seed + 3)
    optimizer = make_optimizer(model.parameters(), cfg)
    return Built(cfg, model, loader, LOSSES[cfg.loss].make(), optimizer,
                 make_scheduler(optimizer, cfg), image)


def total_norm(tensors: list[Tensor]) -> float:
    """`nn.utils.get_total_norm` bit for bit on same-device, same-dtype tensors, minus the grouping
    and wrappers (and, for one tensor, the stack) that a Python-bound model feels every step."""
    if len(tensors) == 1:  # the norm of one norm is itself (checked bit for bit, inf/nan too)
        return float(torch.linalg.vector_norm(tensors[0]))
    return float(torch.linalg.vector_norm(torch.stack(torch._foreach_norm(tensors))))


def configure_torch(threads: int = 1) -> None:
    """Tiny models run best on one thread per training; subnormal floats only slow Adam down."""
    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)


@dataclass
class TrainResult:
    """What a finished run leaves behind."""

    config: RunConfig
    status: str  # completed, diverged, early_stopped, stopped
    history: pd.DataFrame
    model: nn.Module
    image: np.ndarray  # uint8 (H, W, 4) of the final (or, after divergence, best) weights
    best_loss: float
    diverged_at: int | None
    reason: str
    seconds: float
    best_state: dict[str, Tensor] | None = None

    @property
    def steps(self) -> int:
        return len(self.history)

    @property
    def final_loss(self) -> float | None:
        return float(self.history["loss"].iloc[-1]) if len(self.history) else None

    def summary(self) -> dict[str, Any]:
        """The JSON-able summary written next to a run."""
        sps = self.steps / self.seconds if self.seconds > 0 else 0.0
        best = self.best_loss if math.isfinite(self.best_loss) else None
        return {"status": self.status, "steps": self.steps, "final_loss": self.final_loss,
                "best_loss": best, "diverged_at": self.diverged_at, "reason": self.reason,
                "seconds": round(self.seconds, 4), "steps_per_second": round(sps, 2)}


class Trainer:
    """One run, advanced one optimizer step at a time so a worker can pause, step and steer it."""

    def __init__(self, cfg: RunConfig, built: Built | None = None) -> None:
        self.cfg = cfg
        self.b = built or build(cfg)
        self.params = [p for p in self.b.model.parameters() if p.requires_grad]
        self._weights = [p.detach() for p in self.params]  # made once: they see in-place updates
        self._spare: list[Tensor] | None = None  # scratch for the update-to-weight ratio
        self._total_steps = cfg.total_steps
        self.to_pixels = LOSSES[cfg.loss].to_pixels if cfg.task == "generate" else None
        self._epoch_len = len(self.b.loader)
        self._in_epoch = 0
        self.per_epoch = SCHEDULES[cfg.schedule].per_epoch
        self.rows = HistoryRows()  # packed: 56 bytes a row instead of ~250 as tuples
        self.events: list[tuple[int, str, float]] = []  # (step, kind, value), e.g. live LR changes
        self.step_count, self.epoch, self.seconds = 0, 0, 0.0
        self.status, self.reason, self.diverged_at = "ready", "", None
        self.best_loss, self.best_params = math.inf, None
        self._batches: Iterator = iter(())
        self._epoch_losses: list[float] = []
        self._best_epoch, self._bad_epochs = math.inf, 0
        self.best_epoch: int | None = None  # the epoch whose weights are the best checkpoint
        self._explode_at = math.inf
        self.released = False  # True once release() dropped the weights (see Runner's memory budget)

    # The loop -------------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self.status in ("completed", "diverged", "early_stopped", "stopped")

    @property
    def lr(self) -> float:
        return float(self.b.optimizer.param_groups[0]["lr"])

    def step(self) -> tuple | None:
        """One optimizer step; returns its history row, or None once the run has ended."""
        if self.done:
            return None
        t0 = time.perf_counter()
        batch = next(self._batches, None) or self._next_epoch()  # a batch is a non-empty tuple
        if batch is None:
            return None
        self.status = "running"
        row = self._update(*batch)
        self.seconds += time.perf_counter() - t0
        if row is None:
            return None
        self._in_epoch += 1
        last = self.step_count >= self._total_steps
        closes = (last or self._in_epoch >= self._epoch_len) and not self.done  # not after divergence
        metrics = self._end_epoch() if closes else {}
        row = (*row, self.seconds, *(metrics.get(c, math.nan) for c in self.b.extra_columns))
        self.rows.append(row)
        if last and not self.done:
            self._finish("completed")
        return row

    def _next_epoch(self) -> tuple[Tensor, Tensor] | None:
        """Open the next epoch (the last one was closed by its final step)."""
        self._in_epoch = 0
        if not self.b.model.training:  # only image() flips it, and it flips it back: skip ~20 us
            self.b.model.train()
        self._batches = iter(self.b.loader)
        self.epoch += 1
        return next(self._batches)

    def _update(self, x: Tensor, y: Tensor) -> tuple | None:
        """zero_grad, forward, loss, backward, (clip), step: the textbook update, instrumented."""
        b, lr = self.b, self.lr
        if self.cfg.optimizer == "lbfgs":
            loss_value = float(b.optimizer.step(self._closure(x, y)).detach())
            grad_norm = self._grad_norm()
        else:
            b.optimizer.zero_grad(set_to_none=True)
            loss = b.criterion(b.model(x), y)
            loss.backward()
            loss_value = loss.item()
            grad_norm = self._grad_norm()
            if not self._check(loss_value, grad_norm):
                return None
            before = self._snapshot_weights(self._keep_best(loss_value))
            b.optimizer.step()
            ratio = self._update_ratio(before)
            return self._after_step(loss_value, lr, grad_norm, ratio)
        if not self._check(loss_value, grad_norm):
            return None
        return self._after_step(loss_value, lr, grad_norm, math.nan)

    def _closure(self, x: Tensor, y: Tensor) -> Callable[[], Tensor]:
        """LBFGS re-evaluates the loss several times per step, as torch documents."""
        def closure() -> Tensor:
            self.b.optimizer.zero_grad(set_to_none=True)
            loss = self.b.criterion(self.b.model(x), y)
            loss.backward()
            return loss
        return closure

    def _after_step(self, loss: float, lr: float, grad_norm: float, ratio: float) -> tuple:
        """Advance the schedule and counters; the row is what the step saw (`step` adds seconds)."""
        self.step_count += 1
        self._epoch_losses.append(loss)
        if self.b.scheduler is not None and not self.per_epoch:
            self.b.scheduler.step()
        if self.cfg.optimizer == "lbfgs" and loss < self.best_loss:
            self.best_loss = loss
        return (self.step_count, self.epoch, loss, lr, grad_norm, ratio)

    def _grad_norm(self) -> float:
        """Total gradient norm; clipping (when on) returns the same norm before it rescales."""
        grads = [p.grad for p in self.params if p.grad is not None]
        if not grads:
            return 0.0
        if self.cfg.clip_grad_norm > 0:
            return float(nn.utils.clip_grad_norm_(self.params, self.cfg.clip_grad_norm))
        return total_norm(grads)

    def _check(self, loss: float, grad_norm: float) -> bool:
        """Stop with `diverged` on a non-finite loss or gradient, or a loss that exploded."""
        if -math.inf < loss < self._explode_at < math.inf and -math.inf < grad_norm < math.inf:
            return True  # the usual case, in one comparison chain (the checks below agree)
        step = self.step_count + 1
        if not math.isfinite(self._explode_at) and math.isfinite(loss):
            self._explode_at = EXPLODE * max(loss, 1.0)
        if not math.isfinite(loss):
            return self._diverge(step, f"loss became {loss}")
        if not math.isfinite(grad_norm):
            return self._diverge(step, f"the gradient became {grad_norm}")
        if loss > self._explode_at:
            return self._diverge(step, f"loss exploded to {loss:.3g}")
        return True

    def _diverge(self, step: int, what: str) -> bool:
        """Record where and why the run blew up, with a hint that teaches."""
        self.diverged_at = step
        self.reason = (f"diverged at step {step}: {what} with lr={self.lr:.4g}; "
                       f"try a learning rate 10x lower")
        self._finish("diverged")
        return False

    def _keep_best(self, loss: float) -> bool:
        """Copy the weights that produced the lowest loss so far (before they are updated)."""
        if loss >= self.best_loss or self.b.evaluate is not None:  # then validation picks the best
            return False
        self.best_loss = loss
        if self.best_params is None:
            self.best_params = [w.clone() for w in self._weights]
        else:
            torch._foreach_copy_(self.best_params, self._weights)
        return True

    def _snapshot_weights(self, just_kept: bool) -> list[Tensor] | None:
        """A copy of the weights every RATIO_EVERY steps, to measure the size of the update."""
        if (self.step_count + 1) % RATIO_EVERY:
            return None
        if just_kept:  # _keep_best has just copied these very weights: save a second copy
            return self.best_params
        torch._foreach_copy_(self._scratch(), self._weights)
        return self._scratch()

    def _scratch(self) -> list[Tensor]:
        """One reusable weight-sized buffer: allocating megabytes every 10th step costs page faults."""
        if self._spare is None:
            self._spare = [torch.empty_like(w) for w in self._weights]
        return self._spare

    def _update_ratio(self, before: list[Tensor] | None) -> float:
        """||update|| / ||weights||: about 1e-3 is healthy; 1e-1 and up means too large a LR."""
        if before is None:
            return math.nan
        den = total_norm(before)
        delta = self._scratch()  # may be `before` itself: it is read above, then overwritten
        for after, old, out in zip(self._weights, before, delta, strict=True):
            torch.sub(after, old, out=out)  # what _foreach_sub does per tensor on CPU
        num = total_norm(delta)
        ratio = num / den if den > 0 else math.nan
        if not math.isfinite(num):
            self._diverge(self.step_count + 1, "the weights became non-finite")
        return ratio

    def _end_epoch(self) -> dict[str, float]:
        """Per-epoch work: validation (if the lesson has it), then the plateau schedule and early
        stopping watch the validation loss, or else the epoch's mean training loss."""
        if not self._epoch_losses:
            return {}
        mean = sum(self._epoch_losses) / len(self._epoch_losses)
        self._epoch_losses = []
        metrics = {"epoch_loss": mean}
        if self.b.evaluate is not None:
            metrics.update(self.b.evaluate(self.b.model))
            self._keep_epoch_best(metrics["val_loss"])
        watched = metrics.get("val_loss", mean)
        if self.b.scheduler is not None and self.per_epoch:
            before = self.lr
            self.b.scheduler.step(watched)
            if self.lr < before:
                self.events.append((self.step_count, "plateau", self.lr))
        if self.cfg.patience > 0:
            self._early_stopping(watched)
        metrics["bad_epochs"] = float(self._bad_epochs)
        return metrics

    def _early_stopping(self, watched: float) -> None:
        """Count epochs without an improvement of at least min_delta; stop after `patience`."""
        if self._best_epoch - watched > self.cfg.min_delta:
            self._best_epoch, self._bad_epochs = watched, 0
            return
        self._bad_epochs += 1
        if self._bad_epochs >= self.cfg.patience:
            self.reason = (f"early stopped after epoch {self.epoch}: no improvement above "
                           f"{self.cfg.min_delta:g} for {self.cfg.patience} epochs; the best "
                           "weights are restored")
            self.events.append((self.step_count, "early_stop", watched))
            self._finish("early_stopped")

    def _keep_epoch_best(self, val_loss: float) -> None:
        """Keep the weights with the lowest validation loss (the checkpoint worth restoring)."""
        if not val_loss < self.best_loss:
            return
        self.best_loss = val_loss
        self.best_epoch = self.epoch
        if self.best_params is None:
            self.best_params = [w.clone() for w in self._weights]
        else:
            torch._foreach_copy_(self.best_params, self._weights)

    def _finish(self, status: str) -> None:
        """End the run; after divergence or early stopping the best weights are restored."""
        self.status = status
        if status in ("diverged", "early_stopped") and self.best_params is not None:
            with torch.no_grad():
                torch._foreach_copy_(self.params, self.best_params)
        if status == "completed" and not all(bool(torch.isfinite(p).all()) for p in self.params):
            self._diverge(self.step_count, "the weights became non-finite")

    # Controls and views ----------------------------------------------------------------------
    def stop(self) -> None:
        """End the run early at the user's request."""
        if not self.done:
            self._finish("stopped")

    def set_lr(self, lr: float) -> None:
        """Change the learning rate from the next step on, keeping the schedule's shape."""
        current = self.base_lr
        if lr <= 0 or not math.isfinite(lr) or lr == current:
            return
        rescale(self.b.optimizer, self.b.scheduler, lr / current)
        self._base_lr = lr
        self.events.append((self.step_count, "lr", lr))

    @property
    def base_lr(self) -> float:
        """The learning rate the user set (the schedule scales it)."""
        return getattr(self, "_base_lr", self.cfg.lr)

    def view(self) -> dict[str, Any]:
        """The lesson's extra picture data (confusion matrix, fitted line), from current weights."""
        return self.b.view(self.b.model) if self.b.view is not None else {}

    def tensors(self) -> list[Tensor]:
        """Every tensor this run holds: weights, gradients, optimizer state, best copy, data."""
        found = [*self.params, *(p.grad for p in self.params if p.grad is not None)]
        found += [v for state in self.b.optimizer.state.values() for v in state.values()
                  if isinstance(v, Tensor)]
        found += [*(self.best_params or []), *(self._spare or [])]
        found += [t for t in (*_data_tensors(self.b.loader), self.b.target) if isinstance(t, Tensor)]
        return found

    @property
    def nbytes(self) -> int:
        """Bytes of tensor storage this run holds (each storage counted once)."""
        if self.released:
            return 0
        storages = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in self.tensors()}
        return sum(storages.values())

    @property
    def expected_nbytes(self) -> int:
        """What the run will hold once stepping: the weights six times over (gradients, best copy,
        scratch, two optimizer moments) plus the data; 0 once released."""
        if self.released:
            return 0
        weights = sum(p.untyped_storage().nbytes() for p in self.params)
        data = sum(t.untyped_storage().nbytes() for t in _data_tensors(self.b.loader)
                   if isinstance(t, Tensor))
        return max(self.nbytes, 6 * weights + data)

    def release(self) -> None:
        """Drop the weights, optimizer and data of an ended run; its history and events stay, so
        its curve can still be drawn (a busy server frees old runs' memory this way)."""
        if not self.done:
            self.stop()
        self.released = True
        self.b = replace(self.b, model=nn.Module(), loader=None, optimizer=None, scheduler=None,
                         target=None, evaluate=None, view=None)
        self.params, self._weights, self._spare, self.best_params = [], [], None, None
        self._batches = iter(())

    def restore_best(self) -> bool:
        """Load the best weights kept so far (the best checkpoint); False if there are none."""
        if self.best_params is None or self.released:
            return False
        with torch.no_grad():
            torch._foreach_copy_(self.params, self.best_params)
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

    def history(self) -> pd.DataFrame:
        """Every step so far as a DataFrame."""
        columns = [*COLUMNS, *self.b.extra_columns]
        if not self.rows:
            return pd.DataFrame(self.rows[:], columns=columns)
        df = pd.DataFrame(self.rows.array().copy(), columns=columns)
        return df.astype({"step": "int64", "epoch": "int64"})

    def result(self) -> TrainResult:
        """Package the run for callers of `train()`."""
        best = None
        if self.best_params is not None:
            names = [n for n, p in self.b.model.named_parameters() if p.requires_grad]
            best = dict(zip(names, self.best_params, strict=True))
        return TrainResult(self.cfg, self.status, self.history(), self.b.model, self.image(),
                           self.best_loss, self.diverged_at, self.reason, self.seconds, best)


def train(cfg: RunConfig, on_step: Callable[[Trainer, tuple], None] | None = None,
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


def warm_up() -> float:
    """Pay torch's one-off lazy imports (~2 s on the first optimizer step) before a user clicks."""
    from playground.models import MODELS
    from playground.optim import OPTIMIZERS

    t0 = time.perf_counter()
    train(RunConfig(epochs=3))  # the default run first: a user's first Start needs only this
    for model in MODELS:
        train(RunConfig(model=model, epochs=2, size=8, batch_size=64))
    for optimizer in OPTIMIZERS:
        train(RunConfig(optimizer=optimizer, epochs=2, size=8))
    return time.perf_counter() - t0
