"""The batched lane of a race: K contenders of one model as one computation.

Their weights are stacked with a leading K dimension, one batched forward gives all K outputs, and
one backward of the summed losses gives every slice its own contender's gradient (the losses are
independent). Every optimizer here moves the weights by `lr` times a step that depends only on the
gradients and its own state, so a family of contenders that share an optimizer and its
hyperparameters (learning rate and weight decay aside) steps with ONE torch optimizer run at lr=1 on
a zero tensor, and each contender's slice moves by its own learning rate (from its own torch
scheduler) times that step; weight decay is applied as torch does (L2 into the gradient, AdamW's
decoupled shrink). Losses match solo runs to float rounding. Each contender follows the same
`RunRules` as a solo `Trainer`.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from playground import sprites
from playground.compare.batched import batched_forward, batched_image, row_norms
from playground.config import RunConfig
from playground.engine import RATIO_EVERY
from playground.history import COLUMNS, HistoryRows, row_type
from playground.losses import LOSSES
from playground.models import MODELS
from playground.optim import OPTIMIZERS, make_optimizer
from playground.results import TrainResult
from playground.rules import RunRules, epoch_mean
from playground.schedules import SCHEDULES, make_scheduler
from playground.tensor_ops import all_finite

Row = row_type(COLUMNS)


class Book:
    """One stacked contender's scalars: its learning rate, schedule, rows and run rules."""

    def __init__(self, cfg: RunConfig, restore: Callable[[], None],
                 weights_finite: Callable[[], bool]) -> None:
        self.cfg = cfg
        self.holder = make_optimizer([torch.zeros(1, requires_grad=True)], cfg)  # carries the lr
        self.scheduler = make_scheduler(self.holder, cfg)
        self.holder.step()  # no gradient, so a no-op; tells the scheduler the optimizer has stepped
        self.per_epoch = SCHEDULES[cfg.schedule].per_epoch
        self.rows = HistoryRows(COLUMNS)
        self.rules = RunRules(cfg, restore=restore, weights_finite=weights_finite)
        self.epoch_losses: list[float] = []

    @property
    def done(self) -> bool:
        return self.rules.done

    @property
    def lr(self) -> float:
        return float(self.holder.param_groups[0]["lr"])


@dataclass
class Family:
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


def _runs(keys: list) -> list[tuple[int, int]]:
    """(lo, hi) of each stretch of equal consecutive keys."""
    out, lo = [], 0
    for hi in range(1, len(keys) + 1):
        if hi == len(keys) or keys[hi] != keys[lo]:
            out.append((lo, hi))
            lo = hi
    return out


class Stack:
    """K contenders of one model as one batched computation; rows are in family order."""

    def __init__(self, model: nn.Module, configs: Sequence[RunConfig]) -> None:
        self.model, self.configs, k = model, list(configs), len(configs)
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        self.names = [n for n, _ in named]
        self.weights = [p.detach().unsqueeze(0).repeat(k, *[1] * p.dim()).requires_grad_()
                        for _, p in named]
        self.best = [w.detach().clone() for w in self.weights]
        self.books = [Book(c, self._restorer(r), self._finite_check(r)) for r, c in enumerate(configs)]
        self.families = [self._family(lo, hi) for lo, hi in _runs([family_key(c) for c in configs])]
        example = MODELS[configs[0].model].example_dims
        self.losses = [(lo, hi, self._criterion(configs[lo].loss),
                        tuple(d + 1 for d in example) if configs[lo].reduction == "sum" else ())
                       for lo, hi in _runs([(c.loss, c.reduction) for c in configs])]
        self.clip = [c.clip_grad_norm for c in configs]
        self.step_count, self.epoch, self.seconds = 0, 0, 0.0
        self.total_steps = configs[0].total_steps
        self._forward = batched_forward(model, k)
        self._image = batched_image(model)

    def _family(self, lo: int, hi: int) -> Family:
        cfg = self.configs[lo]
        steps = [torch.zeros_like(w[lo:hi].detach()).requires_grad_() for w in self.weights]
        optimizer = make_optimizer(steps, cfg.replace(lr=1.0, weight_decay=0.0))
        decay = [c.weight_decay for c in self.configs[lo:hi]]
        return Family(lo, hi, optimizer, steps, decay, cfg.optimizer == "adamw")

    @staticmethod
    def _criterion(loss: str) -> nn.Module:
        """The loss per element, so each row can be reduced on its own."""
        criterion = LOSSES[loss].make()
        criterion.reduction = "none"
        return criterion

    def _restorer(self, r: int) -> Callable[[], None]:
        @torch.no_grad()
        def restore() -> None:
            for w, best in zip(self.weights, self.best, strict=True):
                w.detach()[r].copy_(best[r])
        return restore

    def _finite_check(self, r: int) -> Callable[[], bool]:
        return lambda: all_finite([w.detach()[r] for w in self.weights])

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
        self.epoch, step = epoch, self.step_count + 1
        lrs = [b.lr for b in self.books]
        losses, norms = self._gradients(x, y)
        ok = [r for r in live if self.books[r].rules.healthy(step, losses[r], norms[r], lrs[r])]
        self._keep_best([r for r in ok if self.books[r].rules.step_best(losses[r], step)])
        before = self._snapshot()
        self._update(ok, lrs)
        ratios = self._ratios(before, ok, lrs)
        self.step_count += 1
        self.seconds += time.perf_counter() - t0
        rows: list[Row | None] = [None] * len(self.books)
        for r in ok:
            rows[r] = self._after_step(r, losses[r], lrs[r], norms[r], ratios[r], closes_epoch)
        for r in set(live) - set(ok):  # diverged at this step: its loss is drawn, its weights kept
            rows[r] = Row(self.step_count, self.epoch, losses[r], lrs[r], norms[r], math.nan,
                          self.seconds)
            self.books[r].rows.append(rows[r])
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
        """(K,) losses: each contender's own loss and reduction (summed over each example's dims,
        then averaged over the rest), as its solo run reduces it."""
        parts = []
        for lo, hi, crit, example in self.losses:
            per_element = crit(out[lo:hi], y.expand_as(out[lo:hi]))
            if example:
                per_element = per_element.sum(dim=example)
            parts.append(per_element.flatten(1).mean(1))
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def _grad_norms(self) -> list[float]:
        """Per-contender total gradient norm; clipping (where asked) rescales as torch's does."""
        grads = [w.grad for w in self.weights]
        norms = row_norms(grads)
        if any(c > 0 for c in self.clip):
            limit = torch.tensor(self.clip, dtype=norms.dtype)
            coef = torch.where(limit > 0, (limit / (norms + 1e-6)).clamp(max=1.0), 1.0)
            for g in grads:
                g.mul_(coef.view(-1, *[1] * (g.dim() - 1)))
        return norms.tolist()

    @torch.no_grad()
    def _keep_best(self, rows: list[int]) -> None:
        """Copy the pre-update weights of contenders whose loss is their best so far."""
        if not rows:
            return
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

    def _family_grads(self, fam: Family) -> None:
        """Hand the family's gradient slices to its optimizer (plus L2 decay, as torch adds it)."""
        l2 = not fam.decoupled and any(fam.weight_decay)
        for w, s in zip(self.weights, fam.steps, strict=True):
            g = w.grad[fam.lo:fam.hi]
            s.grad = g + _column(fam.weight_decay, g) * w.detach()[fam.lo:fam.hi] if l2 else g

    def _ratios(self, before: list[Tensor] | None, ok: list[int], lrs: list[float]) -> list[float]:
        """||update|| / ||weights|| per contender; non-finite weights end that contender."""
        if before is None:
            return [math.nan] * len(self.books)
        after = [w.detach() for w in self.weights]
        num = row_norms(torch._foreach_sub(after, before)).tolist()
        den = row_norms(before).tolist()
        ratios = [n / d if d > 0 else math.nan for n, d in zip(num, den, strict=True)]
        for r in ok:
            self.books[r].rules.check_update(self.step_count + 1, num[r], lrs[r])
        return ratios

    def _after_step(self, r: int, loss: float, lr: float, norm: float, ratio: float,
                    closes_epoch: bool) -> Row:
        """Advance this contender's schedule, then close the step as a solo run's closes
        (`RunRules.close_step`): the epoch's end, the row, finishing after the last step."""
        book = self.books[r]
        book.epoch_losses.append(loss)
        if book.scheduler is not None and not book.per_epoch:
            book.scheduler.step()
        if not book.done:
            book.rules.status = "running"
        return book.rules.close_step(self.step_count, self.step_count >= self.total_steps,
                                     closes_epoch, lambda: self._end_epoch(book),
                                     lambda _: self._record(book, loss, lr, norm, ratio),
                                     book.holder)

    def _record(self, book: Book, loss: float, lr: float, norm: float, ratio: float) -> Row:
        row = Row(self.step_count, self.epoch, loss, lr, norm, ratio, self.seconds)
        book.rows.append(row)
        return row

    def _end_epoch(self, book: Book) -> None:
        """Trainer's epoch end: the plateau schedule and early stopping see the epoch's mean loss."""
        mean = epoch_mean(book.epoch_losses)
        if mean is not None:
            book.rules.close_epoch(self.epoch, self.step_count, mean, book.holder,
                                   book.scheduler if book.per_epoch else None)

    def stop(self) -> None:
        """End every live contender at the user's request."""
        for book in self.books:
            if not book.done:
                book.rules.finish("stopped", self.step_count, book.lr)

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
        rules = book.rules
        best = ({n: b[r].clone() for n, b in zip(self.names, self.best, strict=True)}
                if rules.has_best else None)
        return TrainResult(book.cfg, rules.status, book.rows.table(), model, image, rules.best_loss,
                           rules.diverged_at, rules.reason, self.seconds, best)
