"""Server limits for a public demo, each overridable by an environment variable."""

from __future__ import annotations

import os
from dataclasses import dataclass


def _env_int(name: str, default: int) -> int:
    """An integer from the environment, falling back to the default on junk."""
    try:
        return max(1, int(os.environ.get(name, default)))
    except ValueError:
        return default


def _env_count(name: str, default: int) -> int:
    """A count from the environment that may be 0 (meaning: decide for me); junk gives the default."""
    try:
        return max(0, int(os.environ.get(name, default)))
    except ValueError:
        return default


def _env_float(name: str, default: float) -> float:
    """A positive number from the environment, falling back to the default on junk."""
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        return default
    return value if value > 0 else default


def _env_between(name: str, default: float, low: float, high: float) -> float:
    """A number from the environment held within [low, high]; junk gives the default."""
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        return default
    return min(high, max(low, value)) if value == value else default  # NaN is junk too


def _env_flag(name: str, default: bool) -> bool:
    """An on/off switch from the environment: 0, false, no or off turn it off; junk gives the default."""
    text = os.environ.get(name, "").strip().lower()
    if text in ("0", "false", "no", "off"):
        return False
    return True if text in ("1", "true", "yes", "on") else default


LIVE_REFRESH_RANGE = (0.1, 5.0)  # faster would flood the server, slower is no longer live


@dataclass(frozen=True)
class Limits:
    """What one server process allows, so one busy class cannot starve it."""

    workers: int = 0  # worker processes that train (0 = one per CPU this server may use)
    max_steps: int = 200_000  # optimizer steps per run
    max_seconds: float = 600.0  # seconds of training per run
    max_history: int = 200_000  # history rows kept per run (the run stops at this many)
    session_grace: float = 30.0  # seconds a run survives its session going away (reconnects)
    max_runs: int = 12  # finished runs kept per session for comparison (oldest dropped)
    max_page_runs: int = 2  # sessions running page code at once (full runs and live redraws)
    turn_seconds: float = 10.0  # a run holding a slot this long makes way when another is queued
    max_run_mb: float = 256.0  # tensor memory one run may hold (weights, grads, optimizer, data)
    max_models_mb: float = 1536.0  # tensor memory all runs together may hold; ended runs free theirs
    max_landscape: int = 2601  # loss evaluations per landscape (its grid: up to 51 x 51)
    max_path_mb: float = 32.0  # weight snapshots kept per run for its landscape's path
    live_refresh: float = 0.25  # seconds between a live view's redraws while it trains (0.1-5)
    live_stream: bool = True  # a running run's view fetches its redraws itself (no Streamlit reruns)

    @classmethod
    def from_env(cls) -> Limits:
        """Read PLAYGROUND_* variables (see docs/deploy.md)."""
        return cls(
            workers=_env_count("PLAYGROUND_WORKERS", cls.workers),
            max_steps=_env_int("PLAYGROUND_MAX_STEPS", cls.max_steps),
            max_seconds=_env_float("PLAYGROUND_MAX_SECONDS", cls.max_seconds),
            max_history=_env_int("PLAYGROUND_MAX_HISTORY", cls.max_history),
            session_grace=_env_float("PLAYGROUND_SESSION_GRACE", cls.session_grace),
            max_runs=_env_int("PLAYGROUND_MAX_RUNS", cls.max_runs),
            max_page_runs=_env_int("PLAYGROUND_MAX_PAGE_RUNS", cls.max_page_runs),
            turn_seconds=_env_float("PLAYGROUND_TURN_SECONDS", cls.turn_seconds),
            max_run_mb=_env_float("PLAYGROUND_MAX_RUN_MB", cls.max_run_mb),
            max_models_mb=_env_float("PLAYGROUND_MAX_MODELS_MB", cls.max_models_mb),
            max_landscape=_env_int("PLAYGROUND_MAX_LANDSCAPE", cls.max_landscape),
            max_path_mb=_env_float("PLAYGROUND_MAX_PATH_MB", cls.max_path_mb),
            live_refresh=_env_between("PLAYGROUND_LIVE_REFRESH", cls.live_refresh, *LIVE_REFRESH_RANGE),
            live_stream=_env_flag("PLAYGROUND_LIVE_STREAM", cls.live_stream),
        )
