"""Opening an Optuna storage the way many machines do at once. Kept light (optuna and sqlalchemy
only, no torch) so a process that only opens the storage starts fast."""

from __future__ import annotations

import random
import threading
from typing import Any

import optuna


def open_storage(url: str | None, attempts: int = 6) -> Any:
    """Optuna's RDB storage for a URL (None: in memory). Several machines started at once may all
    find a fresh database and create its tables together; the losers of that race (a duplicate
    type or table) try again after a short random wait, and then find the tables made."""
    if url is None:
        return None
    from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

    rng = random.Random()
    for attempt in range(attempts):
        try:
            return optuna.storages.RDBStorage(url)
        except (IntegrityError, ProgrammingError, OperationalError):
            if attempt == attempts - 1:
                raise
            threading.Event().wait(rng.uniform(0.1, 0.5) * (attempt + 1))  # back off, jittered
    return None
