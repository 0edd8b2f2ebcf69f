"""Optimizer registry: each entry builds a torch optimizer from the config and names the
hyperparameters it reads, so the UI shows only those."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from playground.config import RunConfig

Params = Iterable[nn.Parameter]


@dataclass(frozen=True)
class OptimizerSpec:
    """How to build one optimizer, which config fields it uses, and a line that teaches it."""

    make: Callable[[Params, RunConfig], torch.optim.Optimizer]
    uses: tuple[str, ...]
    doc: str


def _sgd(p: Params, c: RunConfig) -> torch.optim.Optimizer:
    nesterov = c.nesterov and c.momentum > 0  # torch refuses nesterov without momentum
    return torch.optim.SGD(p, lr=c.lr, momentum=c.momentum, nesterov=nesterov,
                           weight_decay=c.weight_decay, fused=True)


def _adam(p: Params, c: RunConfig) -> torch.optim.Optimizer:
    return torch.optim.Adam(p, lr=c.lr, betas=c.betas, eps=c.eps, weight_decay=c.weight_decay,
                            fused=True)


def _adamw(p: Params, c: RunConfig) -> torch.optim.Optimizer:
    return torch.optim.AdamW(p, lr=c.lr, betas=c.betas, eps=c.eps, weight_decay=c.weight_decay,
                             fused=True)


def _rmsprop(p: Params, c: RunConfig) -> torch.optim.Optimizer:
    return torch.optim.RMSprop(p, lr=c.lr, alpha=c.alpha, eps=c.eps, momentum=c.momentum,
                               weight_decay=c.weight_decay)


def _adagrad(p: Params, c: RunConfig) -> torch.optim.Optimizer:
    return torch.optim.Adagrad(p, lr=c.lr, eps=c.eps, weight_decay=c.weight_decay, fused=True)


def _nadam(p: Params, c: RunConfig) -> torch.optim.Optimizer:
    return torch.optim.NAdam(p, lr=c.lr, betas=c.betas, eps=c.eps, weight_decay=c.weight_decay)


def _radam(p: Params, c: RunConfig) -> torch.optim.Optimizer:
    return torch.optim.RAdam(p, lr=c.lr, betas=c.betas, eps=c.eps, weight_decay=c.weight_decay)


def _adamax(p: Params, c: RunConfig) -> torch.optim.Optimizer:
    return torch.optim.Adamax(p, lr=c.lr, betas=c.betas, eps=c.eps, weight_decay=c.weight_decay)


def _lbfgs(p: Params, c: RunConfig) -> torch.optim.Optimizer:
    return torch.optim.LBFGS(p, lr=c.lr, max_iter=c.max_iter, history_size=c.history_size,
                             line_search_fn="strong_wolfe")


_ADAM = ("betas", "eps", "weight_decay")
OPTIMIZERS: dict[str, OptimizerSpec] = {
    "sgd": OptimizerSpec(_sgd, ("momentum", "nesterov", "weight_decay"),
                         "Plain gradient descent; momentum smooths the path through ravines."),
    "adam": OptimizerSpec(_adam, _ADAM,
                          "Per-weight step sizes from running gradient averages; robust default."),
    "adamw": OptimizerSpec(_adamw, _ADAM,
                           "Adam with weight decay applied directly to weights (decoupled)."),
    "rmsprop": OptimizerSpec(_rmsprop, ("alpha", "eps", "momentum", "weight_decay"),
                             "Divides by a running RMS of gradients; Adam without the momentum."),
    "adagrad": OptimizerSpec(_adagrad, ("eps", "weight_decay"),
                             "Step sizes shrink with every gradient seen; stalls on long runs."),
    "nadam": OptimizerSpec(_nadam, _ADAM, "Adam with Nesterov look-ahead momentum."),
    "radam": OptimizerSpec(_radam, _ADAM,
                           "Adam with a built-in warm-up that tames its first noisy steps."),
    "adamax": OptimizerSpec(_adamax, _ADAM, "Adam with an infinity-norm second moment."),
    "lbfgs": OptimizerSpec(_lbfgs, ("max_iter", "history_size"),
                           "Quasi-Newton: several evaluations per step with a line search; "
                           "full-batch."),
}


def make_optimizer(params: Params, cfg: RunConfig) -> torch.optim.Optimizer:
    """Build the configured optimizer over the given parameters."""
    return OPTIMIZERS[cfg.optimizer].make(params, cfg)
