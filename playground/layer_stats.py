"""Per-parameter diagnostics a Trainer records every RATIO_EVERY steps (gradient norm, update norm,
weight norm), and the divergence autopsy: which tensor blew up first, named by layer and parameter.

The Trainer measures the size of an update every RATIO_EVERY steps anyway (it keeps a copy of the
weights for it). `LayerStats.update` computes the per-tensor norms that total is made of and keeps
them, so the per-layer record costs one more norm of the gradients every 10th step and nothing on
the other nine. Gradients are recorded as the optimizer used them (after clipping, when on).
"""

from __future__ import annotations

import collections
import math
from typing import Any

import torch
from torch import Tensor, nn

from playground.layer_names import columns_for, layer_of

__all__ = ["LayerStats", "autopsy", "columns_for", "grad_norms", "layer_of", "norms"]

KEEP = 10_000  # records kept when nobody drains them (a CLI run of 100,000 steps)
EXPLODED = 10.0  # weights this many times their healthy norm have exploded
TOO_BIG = 0.1  # an update / weight ratio this large means the learning rate is far too large


def norms(tensors: list[Tensor]) -> tuple[float, list[float]]:
    """(total norm, each tensor's norm); the total is tensor_ops.total_norm's, bit for bit."""
    if len(tensors) == 1:
        total = float(torch.linalg.vector_norm(tensors[0]))
        return total, [total]
    each = torch.stack(torch._foreach_norm(tensors))
    return float(torch.linalg.vector_norm(each)), each.tolist()


def grad_norms(params: list[Tensor]) -> list[float]:
    """Each parameter's gradient norm (nan where it has no gradient)."""
    grads = [p.grad for p in params if p.grad is not None]
    found = iter(norms(grads)[1] if grads else [])
    return [next(found) if p.grad is not None else math.nan for p in params]


class LayerStats:
    """The side table of per-parameter norms, and the autopsy taken when the run diverges."""

    def __init__(self, trainer: Any) -> None:
        self.trainer = trainer
        self.names = [n for n, p in trainer.b.model.named_parameters() if p.requires_grad]
        self.columns = columns_for(self.names)
        self.records: collections.deque[tuple[float, ...]] = collections.deque(maxlen=KEEP)
        self.last: tuple[float, ...] | None = None  # the newest record (the autopsy's yardstick)
        self.grad_each: list[float] | None = None  # this step's gradient norms, if already taken
        self.autopsy: dict[str, Any] | None = None
        trainer.rules.on_diverge = self.at_divergence

    def update(self, step: int, weights: list[Tensor], before: list[Tensor],
               delta: list[Tensor]) -> tuple[float, float]:
        """After an optimizer step: write weights - before into `delta` (which may be `before`
        itself) and record the norms; returns (||update||, ||weights before||) in total."""
        den, each_w = norms(before)
        for after, old, out in zip(weights, before, delta, strict=True):
            torch.sub(after, old, out=out)  # what _foreach_sub does per tensor on CPU
        num, each_u = norms(delta)
        grads, self.grad_each = self.grad_each or grad_norms(self.trainer.params), None
        self.last = (step, *grads, *each_u, *each_w)
        self.records.append(self.last)
        return num, den

    def drain(self) -> list[tuple[float, ...]]:
        """The records since the last drain (a worker sends them with its updates)."""
        out = list(self.records)
        self.records.clear()
        return out

    def at_divergence(self, step: int) -> None:
        """Called by the run rules as the run diverges, before the best weights come back: the
        gradients of the diverging step and the weights that made it are still in place."""
        t, last, n = self.trainer, self.last, len(self.names)
        recorded = list(last[1 + 2 * n:]) if last else [math.nan] * n
        best = ([float(torch.linalg.vector_norm(w)) for w in t.best_params]
                if t.best_params is not None else recorded)
        yardstick = [b if b > 0 else r for b, r in zip(best, recorded, strict=True)]  # 0: zero init
        ratios = [u / w if w > 0 else math.nan for u, w in zip(last[1 + n:1 + 2 * n], recorded,
                                                               strict=True)] if last else None
        self.autopsy = autopsy(step, t.b.model, self.names, t.params, yardstick,
                               list(last[1:1 + n]) if last else None, ratios)
        self.autopsy["reason"] = t.rules.reason


def _growth(now: float, before: float | None) -> float:
    """How many times bigger a norm got (inf for a non-finite one; nan with nothing to compare)."""
    if not math.isfinite(now):
        return math.inf
    return now / before if before and math.isfinite(before) and before > 0 else math.nan


def autopsy(step: int, model: nn.Module, names: list[str], params: list[Tensor],
            weight_ref: list[float] | None, grad_ref: list[float] | None,
            ratios: list[float] | None = None) -> dict[str, Any]:
    """Which tensor blew up first, in the order things happen: the weights (made by the last
    update) before the gradients they produce; among weights the first layer in the forward pass
    (its output feeds the rest), among gradients the first in the backward pass (the last layer).
    With nothing non-finite or exploded, the parameter whose last measured update was largest
    for its size (`ratios`: update / weight at the last RATIO_EVERY step) is the one the learning
    rate was too large for."""
    grads = grad_norms(params)
    table = []
    for i, (name, p) in enumerate(zip(names, params, strict=True)):
        w = float(torch.linalg.vector_norm(p.detach()))
        g_ref = grad_ref[i] if grad_ref and p.grad is not None else None
        table.append({"parameter": name, "layer": layer_of(name), "shape": list(p.shape),
                      "module": _module_name(model, layer_of(name)), "weight_norm": w,
                      "weight_growth": _growth(w, weight_ref[i] if weight_ref else None),
                      "grad_norm": grads[i],
                      "grad_growth": _growth(grads[i], g_ref) if p.grad is not None else math.nan,
                      "ratio": ratios[i] if ratios else math.nan})
    tensor, row, what = _culprit(table)
    return {"step": step, "parameter": row["parameter"], "layer": row["layer"],
            "module": row["module"], "tensor": tensor, "what": what, "table": table}


def _culprit(table: list[dict[str, Any]]) -> tuple[str, dict[str, Any], str]:
    """(which tensor, its row, what happened to it): see `autopsy` for the order."""
    for row in table:
        if not math.isfinite(row["weight_norm"]):
            return "weights", row, f"its weights became {row['weight_norm']}"
    grown = [r for r in table if r["weight_growth"] >= EXPLODED]
    if grown:
        row = max(grown, key=lambda r: r["weight_growth"])
        return "weights", row, f"its weights grew {row['weight_growth']:,.0f}x in norm"
    for row in reversed(table):
        if not math.isfinite(row["grad_norm"]) and not math.isnan(row["grad_growth"]):
            return "gradient", row, f"its gradient became {row['grad_norm']}"
    row = max(table, key=lambda r: _rank(r["ratio"]))
    if row["ratio"] >= TOO_BIG:
        return "updates", row, (f"its last measured update was {row['ratio']:.3g}x its own size "
                                "(update / weight; about 0.001 is healthy)")
    row = max(table, key=lambda r: (_rank(r["grad_growth"]), r["grad_norm"]))
    if math.isfinite(row["grad_growth"]):
        return "gradient", row, f"its gradient grew {row['grad_growth']:,.0f}x in norm"
    return "gradient", row, f"its gradient norm reached {row['grad_norm']:.3g}"


def _rank(growth: float) -> float:
    return -1.0 if math.isnan(growth) else growth


def _module_name(model: nn.Module, layer: str) -> str:
    """The layer's module type ("Linear", "Conv2d"), or the model's for a bare parameter."""
    try:
        return type(model.get_submodule(layer)).__name__
    except AttributeError:
        return type(model).__name__
