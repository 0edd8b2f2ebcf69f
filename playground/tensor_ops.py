"""The few tensor operations the Trainer does itself: torch's general versions give the same
numbers (tested bit for bit in tests/test_engine.py) but wrap them in grouping, profiler scopes and
checks that a small model feels on every step."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor


def total_norm(tensors: list[Tensor]) -> float:
    """`nn.utils.get_total_norm` bit for bit on same-device, same-dtype tensors, minus the grouping
    and wrappers (and, for one tensor, the stack) that a Python-bound model feels every step."""
    if len(tensors) == 1:  # the norm of one norm is itself (checked bit for bit, inf/nan too)
        return float(torch.linalg.vector_norm(tensors[0]))
    return float(torch.linalg.vector_norm(torch.stack(torch._foreach_norm(tensors))))


def generator_state(loader: Any) -> Tensor | None:
    """The state of the generator that shuffles a loader's batches (None: it does not shuffle)."""
    generator = getattr(loader, "generator", None)
    return generator.get_state() if generator is not None else None


def all_finite(tensors: list[Tensor]) -> bool:
    """`all(torch.isfinite(t).all() for t in tensors)`, at the cost of a sum: an inf or nan anywhere
    makes the sum non-finite, so a finite sum settles it; only a sum that is not finite (an inf or
    nan inside, or finite values that overflow when added) needs the element-wise check. On a
    million weights the sum takes ~50 us where isfinite's temporaries take ~8 ms."""
    return all(math.isfinite(float(t.sum())) or bool(torch.isfinite(t).all()) for t in tensors)


def clear_grads(optimizer: torch.optim.Optimizer) -> None:
    """What `optimizer.zero_grad(set_to_none=True)` does: every parameter's .grad set to None. The
    method wraps this loop in a profiler scope and a dynamo guard, ~9 us alone and ~15-20 us inside
    a loop on this project's CPUs: 5-8% of a learnable-pixels step. Same effect, minus the wrappers
    (a torch.profiler trace loses its "zero_grad" label)."""
    for group in optimizer.param_groups:
        for p in group["params"]:
            p.grad = None


def copies_like(sources: list[Tensor], like: list[Tensor]) -> list[Tensor]:
    """Copies of `sources` on the devices of `like` (a checkpoint read on the CPU, weights on a GPU)."""
    return [t.to(w.device, copy=True) for t, w in zip(sources, like, strict=True)]
