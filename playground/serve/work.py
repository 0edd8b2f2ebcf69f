"""The work the Compare tab's jobs do in a worker process: a race stepped in lockstep with its curves
and pictures published as it goes, a stability map with its progress, an LR range test, a Tune
study, a run's loss landscape. Each takes the worker's job channel (publish, check, limits)
first; the page polls `Job.snapshot()`."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import optuna
import pandas as pd

from playground.bugs.lab import bug_race_job
from playground.compare import Race
from playground.compare.landscape import Landscape, LandscapeOptions, compute
from playground.compare.lr_finder import LRFindResult, lr_find
from playground.compare.stability import stability_map
from playground.compare.tune import Progress, TuneOptions, run_study, study_view
from playground.compare.tune_space import Space
from playground.config import RunConfig
from playground.serve.lockstep import PUBLISH_EVERY, drive
from playground.serve.wire import Cancelled, unpack

CURVE_POINTS = 800  # per contender on the chart


def race_job(job: Any, configs: list[RunConfig], names: list[str], target: np.ndarray | None) -> None:
    """Step the race in lockstep and publish thinned curves and images as it goes."""
    contest = Race(configs, names, target)
    try:
        drive(job, contest, publish_race)
    except Cancelled:
        contest.stop()
        publish_race(job, contest, final=True)
        raise
    publish_race(job, contest, final=True)


def publish_race(job: Any, contest: Race, final: bool = False) -> None:
    """Copies for the page: thinned curves, images, statuses (and the leaderboard at the end)."""
    n = len(contest.configs)
    state = {"progress": contest.step_count / max(1, contest.total_steps),
             "curves": [contest.rows(i).thin(CURVE_POINTS) for i in range(n)],
             "images": contest.images(), "statuses": list(contest.statuses),
             "reasons": list(contest.reasons), "step": contest.step_count}
    if final:
        state["leaderboard"] = contest.leaderboard()
    job.publish(**state)


def stability_job(job: Any, cfg: RunConfig, lrs: list[float], optimizers: list[str],
                  steps: int) -> pd.DataFrame:
    """The map's races, with progress published every tenth of the way."""
    shown = [0.0]

    def progress(done: int, total: int) -> None:
        if done / total - shown[0] >= 0.02 or done == total:
            shown[0] = done / total
            job.publish(progress=done / total)

    return stability_map(cfg, lrs, optimizers, steps, on_progress=progress,
                         should_stop=lambda: _checked(job))


def lr_find_job(job: Any, cfg: RunConfig, options: dict[str, Any]) -> LRFindResult:
    """The LR range test on a fresh copy of the weights."""
    return lr_find(cfg, should_stop=lambda: _checked(job), **options)


def tune_job(job: Any, cfg: RunConfig, space: Space, options: TuneOptions) -> None:
    """An Optuna study in this worker, within the server's limits (its time per job, its steps
    per run for each trial); the trials table is published after every trial, progress as it goes."""
    options = replace(options, timeout=min(options.timeout or math.inf, job.limits.max_seconds),
                      max_steps=job.limits.max_steps, storage=None)
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # the page shows every trial; not the log
    last = [0.0]

    def running(p: Progress) -> None:
        if time.monotonic() - last[0] >= PUBLISH_EVERY:
            last[0] = time.monotonic()
            by_trials = (p.done + p.epoch / max(1, p.epochs)) / options.trials
            by_time = (time.monotonic() - p.started) / options.timeout
            job.publish(progress=min(1.0, max(by_trials, by_time)),
                        running={"trial": p.trial, "epoch": p.epoch, "epochs": p.epochs,
                                 "seconds": time.monotonic() - p.started,
                                 "budget": options.timeout})

    study = run_study(cfg, space, options, on_trial=lambda s: job.publish(**study_view(s, cfg, space)),
                      on_epoch=running, should_stop=lambda: _checked(job))
    job.publish(running=None, **study_view(study, cfg, space))
    if job.cancelled:
        raise Cancelled


def landscape_job(job: Any, cfg: RunConfig, target: np.ndarray | None, state: bytes,
                  trajectory: list[tuple[int, np.ndarray]], options: LandscapeOptions) -> Landscape:
    """A run's loss landscape (compare/landscape.py), within the server's evaluation cap; each
    evaluation checks for a cancel, and progress is published as it goes."""
    last = [0.0]

    def progress(done: int, total: int) -> None:
        job.check()
        if time.monotonic() - last[0] >= PUBLISH_EVERY or done == total:
            last[0] = time.monotonic()
            job.publish(progress=done / total, evaluations=done)

    return compute(cfg, target, unpack(state), trajectory, options, job.limits.max_landscape,
                   on_progress=progress)


def _checked(job: Any) -> bool:
    """Time, session and cancel checks, as a should_stop answer."""
    try:
        job.check()
    except Cancelled:
        return True
    return False


JOBS: dict[str, Callable[..., Any]] = {"race": race_job, "stability": stability_job,
                                        "lr_find": lr_find_job, "bug_race": bug_race_job,
                                        "tune": tune_job, "landscape": landscape_job}
