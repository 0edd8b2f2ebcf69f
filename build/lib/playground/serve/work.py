"""The work the Compare tab's jobs do in the background: a race stepped in lockstep with its curves
and pictures published as it goes, and a stability map with its progress. Like the runner, none of
it calls Streamlit; the page polls `Job.snapshot()`."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from playground.compare import Race
from playground.compare.stability import stability_map
from playground.config import RunConfig
from playground.serve.jobs import Cancelled, Job

PUBLISH_EVERY = 0.15  # seconds between the race worker's published views
CURVE_POINTS = 800  # per contender on the chart


def race_work(configs: list[RunConfig], names: list[str],
              target: np.ndarray | None) -> Callable[[Job], None]:
    """The worker: step the race in lockstep and publish thinned curves and images."""
    def work(job: Job) -> None:
        contest = Race(configs, names, target)
        last = 0.0
        try:
            while not contest.done:
                job.check()
                contest.step()
                if contest.step_count >= job.limits.max_steps:
                    job.publish(message=f"Stopped at this server's limit of "
                                        f"{job.limits.max_steps:,} steps per run.")
                    contest.stop()
                if time.monotonic() - last > PUBLISH_EVERY or contest.done:
                    publish_race(job, contest)
                    last = time.monotonic()
        except Cancelled:
            contest.stop()
            publish_race(job, contest, final=True)
            raise
        publish_race(job, contest, final=True)
    return work


def publish_race(job: Job, contest: Race, final: bool = False) -> None:
    """Copies for the page: thinned curves, images, statuses (and the leaderboard at the end)."""
    n = len(contest.configs)
    state = {"progress": contest.step_count / max(1, contest.total_steps),
             "curves": [contest.rows(i).thin(CURVE_POINTS) for i in range(n)],
             "images": contest.images(), "statuses": list(contest.statuses),
             "reasons": list(contest.reasons), "step": contest.step_count}
    if final:
        state["leaderboard"] = contest.leaderboard()
    job.publish(**state)


def stability_work(cfg: RunConfig, lrs: list[float], optimizers: list[str],
                   steps: int) -> Callable[[Job], pd.DataFrame]:
    """The worker: the map's races, with progress published per lockstep."""
    def work(job: Job) -> pd.DataFrame:
        return stability_map(cfg, lrs, optimizers, steps,
                             on_progress=lambda done, total: job.publish(progress=done / total),
                             should_stop=lambda: job.cancelled or _checked(job))
    return work


def _checked(job: Job) -> bool:
    """Time and session limits, as a should_stop answer."""
    try:
        job.check()
    except Cancelled:
        return True
    return False
