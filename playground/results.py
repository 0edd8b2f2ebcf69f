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
    best_epoch: int | None = None  # validated runs: the epoch whose weights are the best checkpoint

    @classmethod
    def of(cls, trainer: Any) -> TrainResult:
        """A Trainer's run packaged (its best weights by parameter name, if any were kept)."""
        best = None
        if trainer.best_params is not None:
            names = [n for n, p in trainer.b.model.named_parameters() if p.requires_grad]
            best = dict(zip(names, trainer.best_params, strict=True))
        return cls(trainer.cfg, trainer.status, trainer.rows.table(), trainer.b.model,
                   trainer.image(), trainer.best_loss, trainer.diverged_at, trainer.reason,
                   trainer.seconds, best, trainer.best_epoch)

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
                "seconds": round(self.seconds, 4), "steps_per_second": round(sps, 2),
                **self.validation()}

    def validation(self) -> dict[str, Any]:
        """The last and the best epoch's validation loss and accuracy: a batch's training loss
        says little about new data (empty for a run without validation)."""
        if "val_loss" not in self.rows:
            return {}
        ends = np.flatnonzero(~np.isnan(self.rows["val_loss"]))
        if not len(ends):
            return {}
        best = self.best_epoch
        at_best = next((i for i in ends if self.rows["epoch"][i] == best), None)
        out: dict[str, Any] = {"epochs": int(self.rows["epoch"][ends[-1]]), "best_epoch": best}
        for name in ("val_loss", "val_accuracy"):
            out[name] = _finite(self.rows[name][ends[-1]])
            out[f"best_{name}"] = _finite(self.rows[name][at_best]) if at_best is not None else None
        return out


def validation_text(summary: dict[str, Any]) -> str:
    """The summary's validation numbers as a phrase for one status line ('' without them)."""
    if summary.get("val_accuracy") is None:
        return ""
    text = f", validation accuracy {summary['val_accuracy']:.1%} (loss {summary['val_loss']:.4g})"
    if summary.get("best_val_accuracy") is not None:
        text += (f", best epoch {summary['best_epoch']}: {summary['best_val_accuracy']:.1%} "
                 f"(loss {summary['best_val_loss']:.4g})")
    return text


def _finite(value: float) -> float | None:
    """A JSON-able number: NaN and infinity (a diverged run) become None."""
    return float(value) if math.isfinite(value) else None
