"""The race's standings: final and best loss, how fast each contender got there, and who blew up."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from playground.history import Table
from playground.results import TrainResult

LEADERBOARD_COLUMNS = ["name", "status", "final_loss", "best_loss", "steps_to_threshold",
                       "diverged_at", "steps"]
REL_THRESHOLD = 0.1  # steps_to_threshold defaults to 10% of each contender's first loss


def steps_to_threshold(rows: Table, threshold: float | None = None) -> int | None:
    """The first step whose loss is below `threshold` (default: 10% of the first loss)."""
    if not len(rows):
        return None
    loss = rows["loss"]
    limit = REL_THRESHOLD * float(loss[0]) if threshold is None else threshold
    hit = np.flatnonzero(loss < limit)
    return int(rows["step"][hit[0]]) if len(hit) else None


def leaderboard(results: Sequence[TrainResult], names: Sequence[str],
                threshold: float | None = None) -> pd.DataFrame:
    """One row per contender, best final loss first, diverged and stopped ones last."""
    entries = [(n, r.status, r.rows, r.best_loss, r.diverged_at)
               for n, r in zip(names, results, strict=True)]
    return board(entries, threshold)


def board(entries: Sequence[tuple[str, str, Table, float, int | None]],
          threshold: float | None) -> pd.DataFrame:
    """The standings from (name, status, rows, best loss, diverged at) per contender."""
    rows = []
    for name, status, history, best, diverged_at in entries:
        final = float(history["loss"][-1]) if len(history) else math.nan
        rows.append((name, status, final, best if math.isfinite(best) else math.nan,
                     steps_to_threshold(history, threshold), diverged_at, len(history)))
    table = pd.DataFrame(rows, columns=LEADERBOARD_COLUMNS)
    for col in ("steps_to_threshold", "diverged_at"):
        table[col] = table[col].astype("Int64")
    rank = table["status"].isin(["diverged", "stopped"]).astype(int)
    order = sorted(range(len(table)), key=lambda i: (rank[i], _nan_last(table["final_loss"][i])))
    return table.iloc[order].reset_index(drop=True)


def _nan_last(value: float) -> float:
    return math.inf if math.isnan(value) else value
