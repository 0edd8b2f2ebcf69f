"""The bug lab's race: the correct loop and the buggy one, built from the same settings and seed
(so from identical weights and batches), stepped in lockstep, and their curves side by side.

Each side is a plain `engine.Trainer`: the correct side is the normal run bit for bit, and the
buggy side is exactly what its exported train.py replays. `bug_race_job` runs it in a worker.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from playground.bugs.effects import AccumulatedLoss
from playground.bugs.registry import BUGS, lab_pair
from playground.config import RunConfig
from playground.engine import Trainer
from playground.history import thin_indices
from playground.serve.lockstep import drive

SIDES = ("correct", "buggy")
CURVE_POINTS = 800  # per side on the chart
CHART_TITLES = {"grad_norm": "gradient norm", "val_loss": "validation loss",
                "val_accuracy": "validation accuracy", "loss": "training loss",
                "retained": "graph nodes kept alive by the epoch total"}


class BugRace:
    """Correct vs buggy from identical weights, one optimizer step each per lockstep."""

    def __init__(self, cfg: RunConfig, name: str) -> None:
        self.name, self.bug = name, BUGS[name]
        self.configs = list(lab_pair(cfg, name))
        self.trainers = [Trainer(c) for c in self.configs]
        self.total_steps = max(c.total_steps for c in self.configs)

    @property
    def done(self) -> bool:
        return all(t.done for t in self.trainers)

    @property
    def step_count(self) -> int:
        return max(t.step_count for t in self.trainers)

    def step(self) -> None:
        """One optimizer step of each side that is still running."""
        for trainer in self.trainers:
            if not trainer.done:
                trainer.step()

    def stop(self) -> None:
        for trainer in self.trainers:
            trainer.stop()

    def frames(self, points: int = CURVE_POINTS) -> list[pd.DataFrame]:
        """Each side's steps, loss and the bug's chart value (thinned): what the page draws."""
        return [side_frame(t, self.bug.chart, points) for t in self.trainers]

    def statuses(self) -> list[str]:
        return [t.status for t in self.trainers]

    def reasons(self) -> list[str]:
        return [t.reason for t in self.trainers]


def retained(trainer: Trainer) -> list[int]:
    """Per step, the graph nodes the loop's epoch total keeps alive (0 for a loop that keeps none)."""
    loop = trainer.b.loop
    return list(loop.retained) if isinstance(loop, AccumulatedLoss) else [0] * trainer.step_count


def side_frame(trainer: Trainer, chart: str, points: int) -> pd.DataFrame:
    """(step, loss, value) rows of one side, `value` being the bug's chart column."""
    table = trainer.rows.table()
    frame = pd.DataFrame({"step": table["step"], "loss": table["loss"]})
    if chart == "retained":
        frame["value"] = np.asarray(retained(trainer)[:len(frame)], dtype=float)
    else:
        frame["value"] = table[chart]
    return frame.iloc[thin_indices(len(frame), points)].reset_index(drop=True)


def summary(frames: list[pd.DataFrame], chart: str) -> str:
    """One measured line: the chart's value for each side (its peak for the retained graph, its
    mean over the run for the rest), so the difference is read as a number too."""
    title = CHART_TITLES[chart]
    parts = []
    for side, frame in zip(SIDES, frames, strict=True):
        values = frame["value"].dropna()
        values = values[np.isfinite(values)]
        if values.empty:
            parts.append(f"{side} —")
        elif chart == "retained":
            parts.append(f"{side} {int(values.max()):,} at most")
        else:
            parts.append(f"{side} {values.mean():.4g} on average")
    return f"{title}: " + " · ".join(parts)


def bug_race_job(job: Any, cfg: RunConfig, name: str) -> None:
    """Step the bug race in a worker and publish both sides' curves as it goes."""
    contest = BugRace(cfg, name)
    try:
        drive(job, contest, _publish)
    finally:
        contest.stop()
        _publish(job, contest)


def _publish(job: Any, contest: BugRace) -> None:
    job.publish(progress=contest.step_count / max(1, contest.total_steps),
                frames=contest.frames(), statuses=contest.statuses(), reasons=contest.reasons(),
                step=contest.step_count)
