"""The copies a run keeps of its weights: the best checkpoint (taken before the update of a
checkpoint step whose loss is the lowest so far, put back after divergence or early stopping)
and one scratch buffer for measuring an update's size every RATIO_EVERY steps. The Trainer's; a
race's Stack keeps its own, stacked."""

from __future__ import annotations

import torch
from torch import Tensor

from playground.tensor_ops import all_finite, copies_like


class WeightCopies:
    """The best weights and the scratch buffer of one run, beside its live weights."""

    def __init__(self, params: list[Tensor]) -> None:
        self.params = params
        self.weights = [p.detach() for p in params]  # made once: they see in-place updates
        self.best: list[Tensor] | None = None
        self.spare: list[Tensor] | None = None  # scratch for the update-to-weight ratio

    def keep_best(self) -> None:
        """Copy the live weights as the best so far."""
        best = self.best
        if best is None:
            self.best = [w.clone() for w in self.weights]
        elif len(best) == 1:  # one tensor (the pixels): copy_ skips foreach's list handling
            best[0].copy_(self.weights[0])
        else:
            torch._foreach_copy_(best, self.weights)

    def before_update(self, just_kept: bool) -> list[Tensor]:
        """A copy of the weights (taken every RATIO_EVERY steps), to measure the size of the update."""
        if just_kept:  # keep_best has just copied these very weights: save a second copy
            return self.best
        torch._foreach_copy_(self.scratch(), self.weights)
        return self.scratch()

    def scratch(self) -> list[Tensor]:
        """One reusable weight-sized buffer: allocating megabytes every 10th step costs page faults."""
        if self.spare is None:
            self.spare = [torch.empty_like(w) for w in self.weights]
        return self.spare

    def restore_best(self) -> None:
        """Put the best weights back (nothing to do before any were kept)."""
        if self.best is not None:
            with torch.no_grad():
                torch._foreach_copy_(self.params, self.best)

    def finite(self) -> bool:
        return all_finite(self.weights)

    def load_best(self, best: list[Tensor] | None) -> None:
        """The best weights of a run carried on from elsewhere, copied into tensors like these."""
        self.best = copies_like(best, self.weights) if best else None

    def held(self) -> list[Tensor]:
        """The copies' tensors (for the memory budget)."""
        return [*(self.best or []), *(self.spare or [])]

    def release(self) -> None:
        self.params, self.weights, self.spare, self.best = [], [], None, None
