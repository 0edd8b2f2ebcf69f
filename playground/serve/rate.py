"""A run's recent speed, from the last 64 (time, step) pairs its worker reported."""

from __future__ import annotations

import collections


class Rate:
    """Steps per second over a sliding window of reports."""

    def __init__(self, window: int = 64) -> None:
        self._seen: collections.deque[tuple[float, int]] = collections.deque(maxlen=window)

    def add(self, now: float, step: int) -> None:
        self._seen.append((now, step))

    def clear(self) -> None:
        self._seen.clear()

    def per_second(self) -> float:
        if len(self._seen) < 2:
            return 0.0
        (t0, s0), (t1, s1) = self._seen[0], self._seen[-1]
        return (s1 - s0) / (t1 - t0) if t1 > t0 else 0.0
