"""What a page reads of a run: a consistent copy of its published state, made under the runner's
lock and drawn by one page refresh without touching the run again."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from playground.config import RunConfig
from playground.history import Table
from playground.loop_lines import LineView

FINISHED = ("completed", "diverged", "early_stopped", "stopped", "error")


@dataclass
class Snapshot:
    """A consistent copy of a run's published state: what one page refresh draws."""

    run_id: int
    state: str  # idle, ready, queued, running, paused, or one of FINISHED
    rows: Table  # the history thinned for the chart, read by column name
    n_rows: int
    image: np.ndarray | None
    filmstrip: list[tuple[int, np.ndarray]]
    events: list[tuple[int, str, float]]
    steps_per_second: float
    total_steps: int
    message: str = ""
    queue_position: int = 0
    base_lr: float = 0.0
    config: RunConfig | None = None
    target: np.ndarray | None = None
    view: dict | None = None  # the lesson's extra data: confusion matrix, fitted line
    line: LineView | None = None  # stepping by line: the line just run and what it touched
    layers: Table | None = None  # per-parameter norms every RATIO_EVERY steps (layer_stats.py)
    best_step: int | None = None  # the best checkpoint's step, from the run: `rows` are thinned
    # (of 400-798 rows every 2nd is kept: the odd steps, none a checkpoint step but step 1)

    @property
    def last(self) -> Any | None:
        """The newest history row (a named tuple), if any."""
        return self.rows.last
