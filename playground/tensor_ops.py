"""The few tensor operations the Trainer does itself: torch's general versions give the same
numbers (tested bit for bit in tests/test_engine.py) but wrap them in grouping, profiler scopes and
checks that a small model feels on every step."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
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


def lean_step(optimizer: torch.optim.Optimizer) -> Callable[[], Any]:
    """`optimizer.step()` for a run that owns its optimizer: the same update, minus the wrappers
    torch puts around it (a profiler scope, the step-hook chains, a dynamo guard, a scheduler's
    call counter): ~17-24 us a step on this project's CPUs, 15-25% of a learnable-pixels step.
    The one thing they do that matters (no autograd while the weights change) is done here. Falls
    back to the wrapped call when step hooks are registered (then they must run), for closures
    (LBFGS) and differentiable optimizers. A torch.profiler trace loses its "Optimizer.step" label."""
    from torch.optim import optimizer as torch_optimizer

    core = inspect.unwrap(type(optimizer).step)
    hooks = (optimizer._optimizer_step_pre_hooks, optimizer._optimizer_step_post_hooks,
             torch_optimizer._global_optimizer_pre_hooks,
             torch_optimizer._global_optimizer_post_hooks)
    if isinstance(optimizer, torch.optim.LBFGS) or optimizer.defaults.get("differentiable"):
        return optimizer.step
    optimizer._opt_called = True  # what a scheduler's wrapper records (it warns without it)
    set_grad = torch._C._set_grad_enabled  # ~0.5 us; the no_grad context manager takes ~2.4 us

    def step() -> Any:
        if any(hooks):  # hooks registered since: run the wrapped step, as torch would
            return optimizer.step()
        grad_was = torch.is_grad_enabled()
        set_grad(False)
        try:
            return core(optimizer)
        finally:
            set_grad(grad_was)
    return step


def copies_like(sources: list[Tensor], like: list[Tensor]) -> list[Tensor]:
    """Copies of `sources` on the devices of `like` (a checkpoint read on the CPU, weights on a GPU)."""
    return [t.to(w.device, copy=True) for t, w in zip(sources, like, strict=True)]
