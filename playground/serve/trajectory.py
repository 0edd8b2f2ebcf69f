"""A run's trajectory for its loss landscape: the flattened weights at the log-spaced steps the
GIF uses (serve/film.py GIF_STEPS, about 60 over a run of any length), recorded by the worker and
kept here within a byte budget.

Recording beats replaying the run from its config: a snapshot costs one copy of the weights at ~60
steps of a run (benchmarks/landscape.py measures it), while a replay costs the whole run again (up
to the server's max_seconds) and would have to repeat every live learning-rate change, restored
checkpoint and step taken by line. When the budget is full every other snapshot is dropped (the
first stays), so what is kept still spans the run; the current weights always come from the run's
own state.
"""

from __future__ import annotations

import numpy as np
from torch import Tensor

from playground.compare.directions import flatten

MB = 1024 * 1024


def weights_now(params: list[Tensor]) -> np.ndarray:
    """A copy of the weights as one flat array (what a snapshot holds)."""
    return flatten(params).cpu().numpy().copy()


class Trajectory:
    """(step, flat weights) pairs in step order, at most `budget_mb` of them."""

    def __init__(self, budget_mb: float = 32.0) -> None:
        self.budget = budget_mb * MB
        self.points: list[tuple[int, np.ndarray]] = []

    @property
    def nbytes(self) -> int:
        return sum(w.nbytes for _, w in self.points)

    def extend(self, points: list[tuple[int, np.ndarray]]) -> None:
        """Add snapshots (a step already passed, after a restore, replaces what came after it)."""
        for step, weights in points:
            while self.points and self.points[-1][0] >= step:
                self.points.pop()
            self.points.append((step, weights))
            while len(self.points) > 2 and self.nbytes > self.budget:
                del self.points[1::2]
