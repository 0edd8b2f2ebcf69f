"""Races: 2 to 8 contenders that share a task (sprite, model, seed, epochs) and differ in optimizer,
learning rate, loss or schedule, trained in lockstep from the same initial weights on the same batches.

Contenders of one model run as one batched computation (`Stack`): their weights are stacked with a
leading K dimension, one vmap'ed forward gives all K outputs, and one backward of the summed losses
gives every slice its own contender's gradient (the losses are independent). Every optimizer here
moves the weights by `lr` times a step that depends only on the gradients and its own state, so a
family of contenders that share an optimizer and its hyperparameters (learning rate and weight decay
aside) steps with ONE torch optimizer run at lr=1 on a zero tensor, and each contender's slice moves by
its own learning rate (from its own torch scheduler) times that step; weight decay is applied as torch
does (L2 into the gradient, AdamW's decoupled shrink). Losses match solo runs to float rounding.

The conv decoder's forward is batched by hand (one grouped convolution in channels_last, faster on
CPU than vmap's); the others go through `vmap(functional_call)`. LBFGS (its closure re-evaluates the
loss), the latent MLP (memory-bound: batching it is slower, see docs/benchmarks.md) and the other
lessons (classify, line) run as plain `engine.Trainer`s in the same lockstep, fed the race's batches.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import product
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, vmap

from playground import sprites
from playground.config import FIELDS, ConfigError, RunConfig, coerce, format_value
from playground.engine import COLUMNS, EXPLODE, RATIO_EVERY, Built, Trainer, TrainResult, build
from playground.losses import LOSSES
from playground.models import ConvDecoder, Pixels
from playground.optim import OPTIMIZERS, make_optimizer
from playground.schedules import SCHEDULES, make_scheduler

MIN_CONTENDERS, MAX_CONTENDERS = 2, 8
# What every contender must share: the task, the model and the batches (epochs, batch size, seed).
SHARED = ("task", "sprite", "pixels", "size", "classes", "samples", "noise", "val_split", "dropout",
          "normalize", "houses", "model", "hidden", "depth", "activation", "fourier",
          "fourier_scale", "latent", "seed", "epochs", "batch_size")
# What contenders may differ in: how they learn, and their own stopping rules.
VARYING = ("loss", "optimizer", "lr", "momentum", "nesterov", "betas", "weight_decay", "alpha", "eps",
           "history_size", "max_iter", "schedule", "step_size", "gamma", "warmup", "min_lr",
           "clip_grad_norm", "patience", "min_delta")
STACKED_MODELS = frozenset({"pixels", "coord", "conv"})  # the latent MLP runs faster one by one
CHUNK = 16  # locksteps per `advance` when nobody watches every step (race(), stability map, CLI)
ENDED = ("completed", "diverged", "early_stopped", "stopped")  # a contender's final statuses
REL_THRESHOLD = 0.1  # steps_to_threshold defaults to 10% of each contender's first loss
_NAMED = ("optimizer", "loss", "schedule")  # shown bare in names ("adam"), others as key=value
Row = tuple  # one history row: COLUMNS


# Configs ------------------------------------------------------------------------------------------
def validate(configs: Sequence[RunConfig]) -> None:
    """Raise ConfigError unless 2-8 configs share the task and differ only in how they learn."""
    if not MIN_CONTENDERS <= len(configs) <= MAX_CONTENDERS:
        raise ConfigError(f"race: {MIN_CONTENDERS} to {MAX_CONTENDERS} contenders, "
                          f"got {len(configs)}")
    if not all(isinstance(c, RunConfig) for c in configs):
        raise ConfigError("race: every contender must be a RunConfig")
    for key in SHARED:
        values = [getattr(c, key) for c in configs]
        if any(v != values[0] for v in values):
            shown = ", ".join(_show(v) for v in dict.fromkeys(values))
            raise ConfigError(f"race: contenders must share {key} (same task, model and batches); "
                              f"got {shown}")


def _show(value: Any) -> str:
    """A value for a message, cut short (a custom sprite code can be 20,000 characters)."""
    text = format_value(value)
    return text if len(text) <= 24 else text[:21] + "..."


def contender_names(configs: Sequence[RunConfig]) -> list[str]:
    """Short unique names from the settings that differ, e.g. 'adam lr=0.01'."""
    varying = [k for k in FIELDS if len({format_value(getattr(c, k)) for c in configs}) > 1]
    names = [" ".join(_label(k, getattr(c, k)) for k in varying) or f"#{i + 1}"
             for i, c in enumerate(configs)]
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        seen[name] = seen.get(name, 0) + 1
        if names.count(name) > 1:
            names[i] = f"{name} #{seen[name]}"
    return names


def _label(key: str, value: Any) -> str:
    return format_value(value) if key in _NAMED else f"{key}={format_value(value)}"


def parse_vary(items: Sequence[str]) -> dict[str, list[Any]]:
    """CLI `--vary key=v1,v2` (betas: `--vary betas=0.9,0.99;0.5,0.9`) into typed value lists."""
    out: dict[str, list[Any]] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not text.strip():
            raise ConfigError(f"--vary {_show(item)}: expected key=value1,value2,...")
        parts = text.split(";") if ";" in text or key == "betas" else text.split(",")
        out[key] = [coerce(key, p.strip()) for p in parts]
    return out


def variants(base: RunConfig, vary: dict[str, list[Any]]) -> list[RunConfig]:
    """The cartesian product of the varied values over a base config (validated as a race)."""
    keys = list(vary)
    count = math.prod(len(v) for v in vary.values())
    if count > MAX_CONTENDERS:
        raise ConfigError(f"race: --vary gives {count} contenders; at most {MAX_CONTENDERS}")
    configs = [base.replace(**dict(zip(keys, values, strict=True)))
               for values in product(*vary.values())]
    validate(configs)
    return configs


# The batched lane ---------------------------------------------------------------------------------
class _ImageOf(nn.Module):
    """Lets functional_call reach a model's `image()` (it only calls `forward`)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self) -> Tensor:
        return self.model.image()


@dataclass
class _Book:
    """One stacked contender's bookkeeping: the scalar half of `engine.Trainer`."""

    cfg: RunConfig
    holder: torch.optim.Optimizer  # carries this contender's lr; its scheduler drives it
    scheduler: Any
    rows: list[Row] = field(default_factory=list)
    status: str = "ready"
    reason: str = ""
    diverged_at: int | None = None
    best_loss: float = math.inf
    has_best: bool = False
    explode_at: float = math.inf
    epoch_losses: list[float] = field(default_factory=list)
    best_epoch: float = math.inf
    bad_epochs: int = 0

    @property
    def done(self) -> bool:
        return self.status in ENDED

    @property
    def lr(self) -> float:
        return float(self.holder.param_groups[0]["lr"])


@dataclass
class _Family:
    """Rows lo:hi that share an optimizer and its hyperparameters; one torch optimizer steps them."""

    lo: int
    hi: int
    optimizer: torch.optim.Optimizer  # over `steps`, lr=1, weight_decay=0
    steps: list[Tensor]  # zeros before each step; the optimizer writes -step(lr=1) into them
    weight_decay: list[float]
    decoupled: bool  # AdamW shrinks the weights; the others add weight_decay * w to the gradient


def family_key(cfg: RunConfig) -> tuple:
    """What a family shares: the optimizer and every hyperparameter it reads but lr and decay."""
    uses = OPTIMIZERS[cfg.optimizer].uses
    return (cfg.optimizer, *(getattr(cfg, k) for k in uses if k != "weight_decay"))


def _column(values: Sequence[float], like: Tensor) -> Tensor:
    """Per-row scalars shaped to broadcast over a (K, ...) tensor."""
    return torch.tensor(values, dtype=like.dtype).view(len(values), *([1] * (like.dim() - 1)))


class Stack:
    """K contenders of one model as one batched computation; rows are in family order."""

    def __init__(self, model: nn.Module, configs: Sequence[RunConfig]) -> None:
        self.model, self.configs, k = model, list(configs), len(configs)
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        self.names = [n for n, _ in named]
        self.weights = [p.detach().unsqueeze(0).repeat(k, *[1] * p.dim()).requires_grad_()
                        for _, p in named]
        self.best = [w.detach().clone() for w in self.weights]
        self.books = [self._book(c) for c in configs]
        self.families = self._families()
        self.runs = self._loss_runs()
        self.clip = [c.clip_grad_norm for c in configs]
        self.step_count, self.epoch, self.seconds = 0, 0, 0.0
        self.total_steps = configs[0].total_steps
        buffers = dict(model.named_buffers())
        image_buffers = {f"model.{n}": b for n, b in buffers.items()}
        image_of = _ImageOf(model)

        def forward(params: dict[str, Tensor], x: Tensor) -> Tensor:
            return functional_call(model, (params, buffers), (x,))

        def image(params: dict[str, Tensor]) -> Tensor:
            named_params = {f"model.{n}": p for n, p in params.items()}
            return functional_call(image_of, (named_params, image_buffers), ())

        self._forward = _by_hand(model, k) or vmap(forward, in_dims=(0, None))
        self._image = vmap(image)

    @staticmethod
    def _book(cfg: RunConfig) -> _Book:
        """A real optimizer and scheduler per contender (on a dummy weight) keep its lr exact."""
        holder = make_optimizer([torch.zeros(1, requires_grad=True)], cfg)
        scheduler = make_scheduler(holder, cfg)
        holder.step()  # no gradient, so a no-op; tells the scheduler the optimizer has stepped
        return _Book(cfg, holder, scheduler)

    def _families(self) -> list[_Family]:
        """One family per run of equal family keys (the race orders rows so each is contiguous)."""
        out, lo = [], 0
        keys = [family_key(c) for c in self.configs]
        for hi in range(1, len(keys) + 1):
            if hi == len(keys) or keys[hi] != keys[lo]:
                out.append(self._family(lo, hi))
                lo = hi
        return out

    def _family(self, lo: int, hi: int) -> _Family:
        cfg = self.configs[lo]
        steps = [torch.zeros_like(w[lo:hi].detach()).requires_grad_() for w in self.weights]
        optimizer = make_optimizer(steps, cfg.replace(lr=1.0, weight_decay=0.0))
        decay = [c.weight_decay for c in self.configs[lo:hi]]
        return _Family(lo, hi, optimizer, steps, decay, cfg.optimizer == "adamw")

    def _loss_runs(self) -> list[tuple[int, int, nn.Module]]:
        """Contiguous rows with the same loss, each with that loss per element (reduced per row)."""
        runs, lo = [], 0
        losses = [c.loss for c in self.configs]
        for hi in range(1, len(losses) + 1):
            if hi == len(losses) or losses[hi] != losses[lo]:
                criterion = LOSSES[losses[lo]].make()
                criterion.reduction = "none"
                runs.append((lo, hi, criterion))
                lo = hi
        return runs

    # One lockstep -------------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return all(b.done for b in self.books)

    def step(self, x: Tensor, y: Tensor, epoch: int, closes_epoch: bool) -> list[Row | None]:
        """One optimizer step for every live contender; their rows (None for those done)."""
        live = [r for r, b in enumerate(self.books) if not b.done]
        if not live:
            return [None] * len(self.books)
        t0 = time.perf_counter()
        self.epoch = epoch
        lrs = [b.lr for b in self.books]
        losses, norms = self._gradients(x, y)
        ok = [r for r in live if self._check(r, losses[r], norms[r])]
        self._keep_best([r for r in ok if losses[r] < self.books[r].best_loss], losses)
        before = self._snapshot()
        self._update(ok, lrs)
        ratios = self._ratios(before, ok)
        self.step_count += 1
        self.seconds += time.perf_counter() - t0
        rows: list[Row | None] = [None] * len(self.books)
        for r in ok:
            rows[r] = self._after_step(r, losses[r], lrs[r], norms[r], ratios[r], closes_epoch)
        return rows

    def _gradients(self, x: Tensor, y: Tensor) -> tuple[list[float], list[float]]:
        """Forward all K at once, backward once; each contender's loss and (clipped) grad norm."""
        for w in self.weights:
            w.grad = None
        out = self._forward(dict(zip(self.names, self.weights, strict=True)), x)
        losses = self._losses(out, y)
        losses.sum().backward()
        return losses.tolist(), self._grad_norms()

    def _losses(self, out: Tensor, y: Tensor) -> Tensor:
        """(K,) losses: each contender's own loss, mean-reduced over its own output."""
        parts = [crit(out[lo:hi], y.expand_as(out[lo:hi])).flatten(1).mean(1)
                 for lo, hi, crit in self.runs]
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def _grad_norms(self) -> list[float]:
        """Per-contender total gradient norm; clipping (where asked) rescales as torch's does."""
        grads = [w.grad for w in self.weights]
        norms = _row_norms(grads)
        if any(c > 0 for c in self.clip):
            limit = torch.tensor(self.clip, dtype=norms.dtype)
            coef = torch.where(limit > 0, (limit / (norms + 1e-6)).clamp(max=1.0), 1.0)
            for g in grads:
                g.mul_(coef.view(-1, *[1] * (g.dim() - 1)))
        return norms.tolist()

    def _check(self, r: int, loss: float, grad_norm: float) -> bool:
        """Trainer's divergence rules: non-finite loss or gradient, or a loss that exploded."""
        book, step = self.books[r], self.step_count + 1
        if not math.isfinite(book.explode_at) and math.isfinite(loss):
            book.explode_at = EXPLODE * max(loss, 1.0)
        if not math.isfinite(loss):
            return self._diverge(r, step, f"loss became {loss}")
        if not math.isfinite(grad_norm):
            return self._diverge(r, step, f"the gradient became {grad_norm}")
        if loss > book.explode_at:
            return self._diverge(r, step, f"loss exploded to {loss:.3g}")
        return True

    def _diverge(self, r: int, step: int, what: str) -> bool:
        """Stop this contender alone, saying where and why, as a solo run would."""
        book = self.books[r]
        book.diverged_at = step
        book.reason = (f"diverged at step {step}: {what} with lr={book.lr:.4g}; "
                       f"try a learning rate 10x lower")
        self._finish(r, "diverged")
        return False

    @torch.no_grad()
    def _keep_best(self, rows: list[int], losses: list[float]) -> None:
        """Copy the pre-update weights of contenders whose loss is their best so far."""
        if not rows:
            return
        for r in rows:
            self.books[r].best_loss, self.books[r].has_best = losses[r], True
        if len(rows) == len(self.books):
            torch._foreach_copy_(self.best, [w.detach() for w in self.weights])
            return
        index = torch.tensor(rows)
        for best, w in zip(self.best, self.weights, strict=True):
            best.index_copy_(0, index, w.detach().index_select(0, index))

    def _snapshot(self) -> list[Tensor] | None:
        """A copy of the weights every RATIO_EVERY steps, to measure the size of the update."""
        if (self.step_count + 1) % RATIO_EVERY:
            return None
        return [w.detach().clone() for w in self.weights]

    @torch.no_grad()
    def _update(self, ok: list[int], lrs: list[float]) -> None:
        """Each family: its optimizer's lr=1 step on zeros, scaled per row by that row's lr."""
        live = set(ok)
        for fam in self.families:
            if not live.intersection(range(fam.lo, fam.hi)):
                continue
            rows = range(fam.lo, fam.hi)
            lr = [lrs[r] if r in live else 0.0 for r in rows]
            self._family_grads(fam)
            torch._foreach_zero_(fam.steps)
            fam.optimizer.step()
            dead = [i for i, r in enumerate(rows) if r not in live]
            for w, s in zip(self.weights, fam.steps, strict=True):
                if dead:  # a stopped row's step may be non-finite; it must not move
                    s[dead] = 0.0
                part = w.detach()[fam.lo:fam.hi]
                if fam.decoupled and any(fam.weight_decay):
                    part.mul_(_column([1 - a * d for a, d in zip(lr, fam.weight_decay, strict=True)],
                                      part))
                part.addcmul_(s, _column(lr, part))

    def _family_grads(self, fam: _Family) -> None:
        """Hand the family's gradient slices to its optimizer (plus L2 decay, as torch adds it)."""
        l2 = not fam.decoupled and any(fam.weight_decay)
        for w, s in zip(self.weights, fam.steps, strict=True):
            g = w.grad[fam.lo:fam.hi]
            s.grad = g + _column(fam.weight_decay, g) * w.detach()[fam.lo:fam.hi] if l2 else g

    def _ratios(self, before: list[Tensor] | None, ok: list[int]) -> list[float]:
        """||update|| / ||weights|| per contender; non-finite weights end that contender."""
        if before is None:
            return [math.nan] * len(self.books)
        after = [w.detach() for w in self.weights]
        num = _row_norms(torch._foreach_sub(after, before)).tolist()
        den = _row_norms(before).tolist()
        ratios = [n / d if d > 0 else math.nan for n, d in zip(num, den, strict=True)]
        for r in ok:
            if not math.isfinite(num[r]):
                self._diverge(r, self.step_count + 1, "the weights became non-finite")
        return ratios

    def _after_step(self, r: int, loss: float, lr: float, norm: float, ratio: float,
                    closes_epoch: bool) -> Row:
        """Advance this contender's schedule; close the epoch on its last batch; record the row;
        finish after the last step (Trainer.step's order)."""
        book = self.books[r]
        book.epoch_losses.append(loss)
        if book.scheduler is not None and not SCHEDULES[book.cfg.schedule].per_epoch:
            book.scheduler.step()
        if not book.done:
            book.status = "running"
        last = self.step_count >= self.total_steps
        if (last or closes_epoch) and not book.done:
            self._end_epoch(r)
        row = (self.step_count, self.epoch, loss, lr, norm, ratio, self.seconds)
        book.rows.append(row)
        if last and not book.done:
            self._finish(r, "completed")
        return row

    def _end_epoch(self, r: int) -> None:
        """Trainer's epoch end: the plateau schedule and early stopping see the epoch's mean loss."""
        book = self.books[r]
        if not book.epoch_losses:
            return
        mean = sum(book.epoch_losses) / len(book.epoch_losses)
        book.epoch_losses = []
        if book.scheduler is not None and SCHEDULES[book.cfg.schedule].per_epoch:
            book.scheduler.step(mean)
        patience = book.cfg.patience
        if patience <= 0:
            return
        if book.best_epoch - mean > book.cfg.min_delta:
            book.best_epoch, book.bad_epochs = mean, 0
            return
        book.bad_epochs += 1
        if book.bad_epochs >= patience:
            book.reason = (f"early stopped after epoch {self.epoch}: no improvement above "
                           f"{book.cfg.min_delta:g} for {patience} epochs; the best weights are "
                           "restored")
            self._finish(r, "early_stopped")

    @torch.no_grad()
    def _finish(self, r: int, status: str) -> None:
        """End one contender; after divergence or early stopping its best weights come back."""
        book = self.books[r]
        book.status = status
        if status in ("diverged", "early_stopped") and book.has_best:
            for w, best in zip(self.weights, self.best, strict=True):
                w.detach()[r].copy_(best[r])
        if status == "completed" and not all(bool(torch.isfinite(w[r]).all()) for w in self.weights):
            self._diverge(r, self.step_count, "the weights became non-finite")

    def stop(self) -> None:
        """End every live contender at the user's request."""
        for r, book in enumerate(self.books):
            if not book.done:
                self._finish(r, "stopped")

    # Views --------------------------------------------------------------------------------------
    @torch.no_grad()
    def images(self) -> list[np.ndarray]:
        """Every contender's current sprite, from one batched `image()`."""
        raw = self._image(dict(zip(self.names, [w.detach() for w in self.weights], strict=True)))
        return [sprites.from_tensor(LOSSES[c.loss].to_pixels(raw[r]))
                for r, c in enumerate(self.configs)]

    def result(self, r: int) -> TrainResult:
        """Contender r packaged as `train()` packages a run, with a model of its own."""
        book = self.books[r]
        model = copy.deepcopy(self.model)
        params = dict(model.named_parameters())
        with torch.no_grad():
            for name, w in zip(self.names, self.weights, strict=True):
                params[name].copy_(w[r])
        model.eval()
        with torch.no_grad():
            image = sprites.from_tensor(LOSSES[book.cfg.loss].to_pixels(model.image()))
        model.train()
        best = ({n: b[r].clone() for n, b in zip(self.names, self.best, strict=True)}
                if book.has_best else None)
        history = pd.DataFrame(book.rows, columns=COLUMNS)
        return TrainResult(book.cfg, book.status, history, model, image, book.best_loss,
                           book.diverged_at, book.reason, self.seconds, best)


def _by_hand(model: nn.Module, k: int) -> Callable[[dict[str, Tensor], Tensor], Tensor] | None:
    """A batched forward written out for the models where vmap costs most, or None (use vmap)."""
    if type(model) is Pixels:
        return _pixels_forward(k)
    if type(model) is ConvDecoder:
        return _conv_forward(model, k)
    return None


def _pixels_forward(k: int) -> Callable[[dict[str, Tensor], Tensor], Tensor]:
    """Learnable pixels: the stacked canvases are the output (vmap's wrapping is most of the step)."""
    def forward(params: dict[str, Tensor], z: Tensor) -> Tensor:
        return params["canvas"].expand(k, z.shape[0], *params["canvas"].shape[2:])
    return forward


def _conv_forward(model: ConvDecoder, k: int) -> Callable[[dict[str, Tensor], Tensor], Tensor] | None:
    """The conv decoder: K contenders' convolutions as one grouped convolution in channels_last,
    ~1.5x faster on CPU than vmap's grouped convolution (which cannot pick the memory format).
    None for a body with a layer this does not know."""
    layers = list(model.body)
    if not all(isinstance(m, _ELEMENTWISE) or _plain_conv(m) for m in layers):
        return None

    def forward(params: dict[str, Tensor], z: Tensor) -> Tensor:
        n, ch, side = z.shape[0], model.ch, model.base
        h = torch.baddbmm(params["fc.bias"].unsqueeze(1), z.expand(k, *z.shape),
                          params["fc.weight"].transpose(1, 2))  # (K, N, ch * side^2)
        h = h.view(k, n, ch, side, side).transpose(0, 1).reshape(n, k * ch, side, side)
        h = h.contiguous(memory_format=torch.channels_last)
        for i, layer in enumerate(layers):
            if isinstance(layer, nn.Conv2d):
                w, b = params[f"body.{i}.weight"], params[f"body.{i}.bias"]
                w = w.reshape(-1, *w.shape[2:]).contiguous(memory_format=torch.channels_last)
                h = F.conv2d(h, w, b.reshape(-1), layer.stride, layer.padding, layer.dilation, k)
            else:
                h = layer(h)
        return h.view(n, k, -1, *h.shape[2:]).transpose(0, 1)

    return forward


_ELEMENTWISE = (nn.ReLU, nn.Tanh, nn.GELU, nn.SiLU, nn.Upsample)


def _plain_conv(m: nn.Module) -> bool:
    """A Conv2d that the grouped form reproduces: zero padding, one group, with a bias."""
    return (isinstance(m, nn.Conv2d) and m.groups == 1 and m.padding_mode == "zeros"
            and m.bias is not None)


def _row_norms(tensors: list[Tensor]) -> Tensor:
    """(K,) norms over a list of (K, ...) tensors: engine.total_norm for each row."""
    if len(tensors) == 1:
        return torch.linalg.vector_norm(tensors[0].flatten(1), dim=1)
    per_tensor = torch.stack([torch.linalg.vector_norm(t.flatten(1), dim=1) for t in tensors])
    return torch.linalg.vector_norm(per_tensor, dim=0)


# The race -----------------------------------------------------------------------------------------
class _Epochs:
    """The race's one loader: its epochs drawn in order (its seeded shuffles, as a solo run draws
    them) and kept until every reader has moved past them."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader
        self.drawn: dict[int, list[tuple[Tensor, Tensor]]] = {}
        self.readers: list[_Reader] = []

    def get(self, epoch: int) -> list[tuple[Tensor, Tensor]]:
        while len(self.drawn) == 0 or max(self.drawn) < epoch:
            self.drawn[max(self.drawn, default=0) + 1] = list(self.loader)
        batches = self.drawn[epoch]
        oldest = min(r.epoch for r in self.readers)
        for old in [e for e in self.drawn if e < oldest]:
            del self.drawn[old]
        return batches


class _Reader:
    """One lane's view of the race's loader: each `iter()` opens that lane's next epoch, so a
    sequential contender can run a few steps ahead and still see exactly the race's batches."""

    def __init__(self, epochs: _Epochs) -> None:
        self.epochs, self.epoch = epochs, 0
        epochs.readers.append(self)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        self.epoch += 1
        return iter(self.epochs.get(self.epoch))

    def __len__(self) -> int:
        return len(self.epochs.loader)

    def retire(self) -> None:
        """This lane is done: stop keeping epochs for it."""
        if self in self.epochs.readers and len(self.epochs.readers) > 1:
            self.epochs.readers.remove(self)


def stackable(cfg: RunConfig) -> bool:
    """Whether a contender can join the batched computation (LBFGS and other lessons run alone)."""
    return cfg.optimizer != "lbfgs" and cfg.task == "generate"


class Race:
    """Contenders in lockstep, stepped one optimizer step at a time so a worker can drive it.

    `step()` returns one history row per contender (None once it has ended); `images()`,
    `histories()`, `leaderboard()` and `results()` read the current state. Not thread-safe: call
    them from the thread that steps, and publish copies to the page. `stacked` forces the batched
    path on (any sprite model) or off; None batches the models in STACKED_MODELS.
    """

    def __init__(self, configs: Sequence[RunConfig], names: Sequence[str] | None = None,
                 target: np.ndarray | None = None, stacked: bool | None = None) -> None:
        validate(configs)
        self.configs = list(configs)
        self.names = list(names) if names is not None else contender_names(self.configs)
        if len(self.names) != len(self.configs):
            raise ConfigError(f"race: {len(self.names)} names for {len(self.configs)} contenders")
        base = build(self.configs[0], target)  # the weights, built once from the seed
        self.target = base.target
        self.total_steps = self.configs[0].total_steps
        self.step_count, self.epoch, self.seconds = 0, 0, 0.0
        self._epochs = _Epochs(base.loader)
        self._reader = _Reader(self._epochs)  # the batched contenders' batches
        self._batches: Iterator = iter(())
        self._in_epoch = 0
        self._stopped = False
        self.stack, self._stack_rows = self._make_stack(base, stacked)
        self.trainers = {i: Trainer(c, _solo(c, base, _Reader(self._epochs), target))
                         for i, c in enumerate(self.configs) if i not in self._stack_rows}
        if self.stack is None:
            self._reader.retire()

    def _make_stack(self, base: Built, stacked: bool | None) -> tuple[Stack | None, dict[int, int]]:
        """Batch the stackable contenders (two or more), in family order; map contender -> row."""
        auto = [stackable(c) and c.model in STACKED_MODELS for c in self.configs]
        pick = [i for i, c in enumerate(self.configs)
                if stackable(c) and (stacked if stacked is not None else auto[i])]
        if len(pick) < 2:
            return None, {}
        first: dict[tuple, int] = {}
        for i in pick:
            first.setdefault(family_key(self.configs[i]), len(first))
        order = sorted(pick, key=lambda i: (first[family_key(self.configs[i])],
                                            self.configs[i].loss))
        rows = {i: r for r, i in enumerate(order)}
        return Stack(base.model, [self.configs[i] for i in order]), rows

    # Stepping -----------------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self._stopped or all(s in ENDED for s in self.statuses)

    def step(self) -> list[Row | None]:
        """One lockstep: each live contender's history row, in contender order (None if done)."""
        table = self.advance(1)
        return table[0] if table else [None] * len(self.configs)

    def advance(self, steps: int) -> list[list[Row | None]]:
        """Up to `steps` locksteps: the batched contenders step together each time, and each
        sequential contender takes its steps in a row (its weights stay in cache: the memory-bound
        latent MLP runs ~10-20% faster than one step each in turn). One list of rows per lockstep."""
        if self.done:
            return []
        t0 = time.perf_counter()
        table: list[list[Row | None]] = [[None] * len(self.configs) for _ in range(steps)]
        taken = self._advance_stack(steps, table)
        for i, trainer in self.trainers.items():
            j = 0
            while j < steps and not trainer.done:
                table[j][i] = trainer.step()
                j += 1
            taken = max(taken, j)
            if trainer.done:
                trainer.b.loader.retire()
        self.step_count += taken
        self.epoch = max([self._reader.epoch, *(t.epoch for t in self.trainers.values())])
        self.seconds += time.perf_counter() - t0
        return table[:taken]

    def _advance_stack(self, steps: int, table: list[list[Row | None]]) -> int:
        """Step the batched contenders up to `steps` times; how many locksteps they took."""
        if self.stack is None:
            return 0
        for j in range(steps):
            if self.stack.done:
                self._reader.retire()
                return j
            x, y = self._next_batch()
            closes = self._in_epoch == len(self._reader)
            rows = self.stack.step(x, y, self._reader.epoch, closes)
            for i, r in self._stack_rows.items():
                table[j][i] = rows[r]
        return steps

    def _next_batch(self) -> tuple[Tensor, Tensor]:
        """The next batch of the one loader, opening the next epoch when this one is used up."""
        batch = next(self._batches, None)
        if batch is None:
            self._batches = iter(self._reader)
            self._in_epoch = 0
            batch = next(self._batches)
        self._in_epoch += 1
        return batch

    def stop(self) -> None:
        """End every live contender at the user's request."""
        self._stopped = True
        if self.stack is not None:
            self.stack.stop()
        for trainer in self.trainers.values():
            trainer.stop()

    # Views (call them from the thread that steps) ------------------------------------------------
    def _book(self, i: int) -> _Book | Trainer:
        return self.stack.books[self._stack_rows[i]] if i in self._stack_rows else self.trainers[i]

    @property
    def statuses(self) -> list[str]:
        return [self._book(i).status for i in range(len(self.configs))]

    @property
    def reasons(self) -> list[str]:
        return [self._book(i).reason for i in range(len(self.configs))]

    def history(self, i: int) -> pd.DataFrame:
        """Contender i's rows so far."""
        if i in self.trainers:
            return self.trainers[i].history()
        return pd.DataFrame(self._book(i).rows, columns=COLUMNS)

    def histories(self) -> list[pd.DataFrame]:
        return [self.history(i) for i in range(len(self.configs))]

    def images(self) -> list[np.ndarray | None]:
        """Every contender's current sprite, uint8 (H, W, 4), in contender order (None for
        lessons that draw no sprite)."""
        stacked = self.stack.images() if self.stack is not None else []
        return [stacked[self._stack_rows[i]] if i in self._stack_rows else self.trainers[i].image()
                for i in range(len(self.configs))]

    def results(self) -> list[TrainResult]:
        """Each contender as `train()` would return it (final or best weights, history, image)."""
        return [self.stack.result(self._stack_rows[i]) if i in self._stack_rows
                else self.trainers[i].result() for i in range(len(self.configs))]

    def leaderboard(self, threshold: float | None = None) -> pd.DataFrame:
        """The standings so far (see `leaderboard`)."""
        entries = [(name, self._book(i).status, self.history(i), self._book(i).best_loss,
                    self._book(i).diverged_at) for i, name in enumerate(self.names)]
        return _board(entries, threshold)


def _solo(cfg: RunConfig, base: Built, reader: _Reader, target: np.ndarray | None) -> Built:
    """A sequential contender built as a solo run is, then given a copy of the race's initial
    weights and fed the race's batches."""
    built = build(cfg, target)
    built.model.load_state_dict(base.model.state_dict())
    built.loader = reader
    return built


def race(configs: Sequence[RunConfig], on_step: Callable[[Race, list[Row | None]], None] | None = None,
         should_stop: Callable[[], bool] | None = None, *, names: Sequence[str] | None = None,
         target: np.ndarray | None = None, stacked: bool | None = None) -> list[TrainResult]:
    """Run a whole race; `on_step(race, rows)` sees every lockstep's rows, and `should_stop()`,
    checked every CHUNK locksteps, can end it."""
    contest = Race(configs, names, target, stacked)
    while not contest.done:
        if should_stop is not None and should_stop():
            contest.stop()
            break
        for rows in contest.advance(CHUNK):
            if on_step is not None:
                on_step(contest, rows)
    return contest.results()


# Leaderboard --------------------------------------------------------------------------------------
LEADERBOARD_COLUMNS = ["name", "status", "final_loss", "best_loss", "steps_to_threshold",
                       "diverged_at", "steps"]


def steps_to_threshold(history: pd.DataFrame, threshold: float | None = None) -> int | None:
    """The first step whose loss is below `threshold` (default: 10% of the first loss)."""
    if history.empty:
        return None
    limit = REL_THRESHOLD * float(history["loss"].iloc[0]) if threshold is None else threshold
    hit = history.loc[history["loss"] < limit, "step"]
    return int(hit.iloc[0]) if len(hit) else None


def leaderboard(results: Sequence[TrainResult], names: Sequence[str],
                threshold: float | None = None) -> pd.DataFrame:
    """One row per contender, best final loss first, diverged and stopped ones last."""
    entries = [(n, r.status, r.history, r.best_loss, r.diverged_at)
               for n, r in zip(names, results, strict=True)]
    return _board(entries, threshold)


def _board(entries: Sequence[tuple], threshold: float | None) -> pd.DataFrame:
    rows = []
    for name, status, history, best, diverged_at in entries:
        final = float(history["loss"].iloc[-1]) if len(history) else math.nan
        rows.append((name, status, final, best if math.isfinite(best) else math.nan,
                     steps_to_threshold(history, threshold), diverged_at, len(history)))
    board = pd.DataFrame(rows, columns=LEADERBOARD_COLUMNS)
    for col in ("steps_to_threshold", "diverged_at"):
        board[col] = board[col].astype("Int64")
    rank = board["status"].isin(["diverged", "stopped"]).astype(int)
    order = sorted(range(len(board)), key=lambda i: (rank[i], _nan_last(board["final_loss"][i])))
    return board.iloc[order].reset_index(drop=True)


def _nan_last(value: float) -> float:
    return math.inf if math.isnan(value) else value
