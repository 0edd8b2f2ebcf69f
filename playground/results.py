"""What a finished run leaves behind, for callers of `train()` and `race()` and for the CLI."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from torch import Tensor, nn

from playground.config import RunConfig
from playground.history import Table


@dataclass
class TrainResult:
    """A run's status, history, weights and picture."""

    config: RunConfig
    status: str  # completed, diverged, early_stopped, stopped
    rows: Table  # the history, as the page and the files read it
    model: nn.Module
    image: np.ndarray | None  # uint8 (H, W, 4) of the final (or, after divergence, best) weights
    best_loss: float
    diverged_at: int | None
    reason: str
    seconds: float
    best_state: dict[str, Tensor] | None = None

    @functools.cached_property
    def history(self) -> pd.DataFrame:
        """The history as a DataFrame (one row per optimizer step)."""
        return self.rows.frame()

    @property
    def steps(self) -> int:
        return len(self.rows)

    @property
    def final_loss(self) -> float | None:
        return float(self.rows["loss"][-1]) if len(self.rows) else None

    def summary(self) -> dict[str, Any]:
        """The JSON-able summary written next to a run."""
        sps = self.steps / self.seconds if self.seconds > 0 else 0.0
        best = self.best_loss if math.isfinite(self.best_loss) else None
        return {"status": self.status, "steps": self.steps, "final_loss": self.final_loss,
                "best_loss": best, "diverged_at": self.diverged_at, "reason": self.reason,
                "seconds": round(self.seconds, 4), "steps_per_second": round(sps, 2)}
