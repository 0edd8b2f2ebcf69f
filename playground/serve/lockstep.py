"""The loop every lockstep contest job runs in a worker (a race, the bug lab's correct-vs-buggy
pair): step, honour Cancel and the per-run step limit, publish a view every PUBLISH_EVERY seconds."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

PUBLISH_EVERY = 0.15  # seconds between a contest's published views


def drive(job: Any, contest: Any, publish: Callable[[Any, Any], None]) -> None:
    """Step `contest` (done, step(), step_count, stop()) to its end; `publish(job, contest)` as it goes."""
    last = 0.0
    while not contest.done:
        job.check()
        contest.step()
        if contest.step_count >= job.limits.max_steps:
            job.publish(message=f"Stopped at this server's limit of {job.limits.max_steps:,} "
                                "steps per run.")
            contest.stop()
        if time.monotonic() - last > PUBLISH_EVERY or contest.done:
            publish(job, contest)
            last = time.monotonic()
