"""Stability map: short runs of the user's config over a grid of optimizers x learning rates, all from
the same initial weights, to see where each optimizer learns, crawls or diverges.

Each optimizer's learning rates run as races of up to 8 contenders (batched where the model allows),
so a row of the map costs far less than its runs one by one. Only the optimizer, the learning rate
and the length change; everything else is the user's config. Results depend only on what
`cache_key` hashes, so a caller can keep them and show a second look at once.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from playground.compare import MAX_CONTENDERS, race
from playground.compare.regimes import run_regime
from playground.config import ConfigError, RunConfig
from playground.engine import TrainResult, train

COLUMNS = ["optimizer", "lr", "status", "regime", "final_loss", "best_loss", "diverged",
           "diverged_at", "steps"]
VERSION = 2  # bump when the map's meaning changes, so old cached maps are not reused
OVERRIDDEN = ("optimizer", "lr", "epochs")  # what each cell sets: not part of the cache key
NOT_RUN = "not_run"


def log_lrs(low: float = 1e-4, high: float = 1.0, count: int = 9) -> list[float]:
    """Log-spaced learning rates, rounded to 3 significant digits for readable axes."""
    return [float(f"{lr:.3g}") for lr in np.geomspace(low, high, count)]


def cell_config(cfg: RunConfig, optimizer: str, lr: float, steps: int) -> RunConfig:
    """The config one cell runs: the user's, with this optimizer and lr, `steps` rounded up to
    whole epochs (the coordinate MLP takes several steps per epoch)."""
    epochs = max(1, math.ceil(steps / cfg.batches_per_epoch))
    return cfg.replace(optimizer=optimizer, lr=float(lr), epochs=epochs)


def cache_key(cfg: RunConfig, lrs: Sequence[float], optimizers: Sequence[str], steps: int) -> str:
    """A stable hash of everything the map depends on (not the optimizer, lr and epochs it sets)."""
    settings = {k: v for k, v in cfg.to_dict().items() if k not in OVERRIDDEN}
    payload = {"version": VERSION, "config": settings, "lrs": [float(lr) for lr in lrs],
               "optimizers": list(optimizers), "steps": int(steps)}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def stability_map(cfg: RunConfig, lrs: Sequence[float], optimizers: Sequence[str], steps: int,
                  on_progress: Callable[[int, int], None] | None = None,
                  should_stop: Callable[[], bool] | None = None) -> pd.DataFrame:
    """One row per (optimizer, lr), optimizer-major: how a short run of that cell ended.

    `on_progress(done, total)` counts contender-steps, once per lockstep (keep it cheap);
    `should_stop()`, checked every few locksteps, cancels: cells not finished by then are returned
    with status 'not_run'.
    """
    if not lrs or not optimizers or steps < 1:
        raise ConfigError("stability map: need at least one lr, one optimizer and one step")
    cells = [cell_config(cfg, o, lr, steps) for o in optimizers for lr in lrs]  # validates them
    progress = _Progress(len(cells) * cells[0].total_steps, on_progress)
    results: list[TrainResult | None] = []
    for group in _groups(cells):
        if should_stop is not None and should_stop():
            results += [None] * len(group)
            continue
        results += _run(group, progress, should_stop)
    frame = pd.DataFrame([_row(c, r) for c, r in zip(cells, results, strict=True)], columns=COLUMNS)
    frame["diverged_at"] = frame["diverged_at"].astype("Int64")
    return frame


def _groups(cells: list[RunConfig]) -> list[list[RunConfig]]:
    """Consecutive cells of one optimizer, at most MAX_CONTENDERS per race."""
    groups: list[list[RunConfig]] = []
    for c in cells:
        if groups and groups[-1][0].optimizer == c.optimizer and len(groups[-1]) < MAX_CONTENDERS:
            groups[-1].append(c)
        else:
            groups.append([c])
    return groups


class _Progress:
    """Counts contender-steps done and reports them."""

    def __init__(self, total: int, report: Callable[[int, int], None] | None) -> None:
        self.done, self.total, self.report = 0, total, report

    def add(self, steps: int) -> None:
        self.done += steps
        if self.report is not None:
            self.report(self.done, self.total)


def _run(group: list[RunConfig], progress: _Progress,
         should_stop: Callable[[], bool] | None) -> list[TrainResult | None]:
    """Race the group (or train a lone cell); a cancelled cell comes back as None."""
    if len(group) == 1:
        results = [train(group[0], on_step=lambda t, row: progress.add(1), should_stop=should_stop)]
    else:
        results = race(group, on_step=lambda contest, rows: progress.add(sum(r is not None for r in rows)),
                       should_stop=should_stop)
    return [None if r.status == "stopped" else r for r in results]


def _row(cfg: RunConfig, result: TrainResult | None) -> tuple:
    """One cell of the map; a cell that did not finish is 'not_run' with no numbers."""
    if result is None:
        return (cfg.optimizer, cfg.lr, NOT_RUN, "", math.nan, math.nan, False, None, 0)
    best = result.best_loss if math.isfinite(result.best_loss) else math.nan
    final = result.final_loss if result.final_loss is not None else math.nan
    return (cfg.optimizer, cfg.lr, result.status, run_regime(result.history, result.status), final,
            best, result.status == "diverged", result.diverged_at, result.steps)
