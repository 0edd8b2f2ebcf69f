"""The filmstrip: the moments a sprite changed most, not fixed steps. Every picture the worker
publishes is offered; one is kept when it differs visibly from the last kept one, and when the strip
is full the frame that adds least (the smallest change from its predecessor) makes way."""

from __future__ import annotations

import numpy as np

VISIBLE = 6.0  # mean change per channel (of 255) that counts as a visible change
KEEP = 10  # frames in the strip


def change(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two uint8 pictures, per channel, in 0..255."""
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


class Filmstrip:
    """(step, picture) frames at the moments of change; the first and the newest always stay."""

    def __init__(self, keep: int = KEEP, visible: float = VISIBLE) -> None:
        self.keep, self.visible = keep, visible
        self.frames: list[tuple[int, np.ndarray]] = []
        self._changes: list[float] = []  # each frame's change from the frame before it

    def offer(self, step: int, image: np.ndarray) -> bool:
        """Keep this picture if it changed visibly since the last kept one; True if kept."""
        if self.frames and self.frames[-1][0] == step:
            return False
        if not self.frames:
            self._append(step, image, np.inf)
            return True
        moved = change(self.frames[-1][1], image)
        if moved < self.visible:
            return False
        self._append(step, image, moved)
        return True

    def finish(self, step: int, image: np.ndarray) -> None:
        """The run's last picture always ends the strip."""
        if self.frames and self.frames[-1][0] == step:
            self.frames[-1] = (step, image)
            return
        self._append(step, image, change(self.frames[-1][1], image) if self.frames else np.inf)

    def _append(self, step: int, image: np.ndarray, moved: float) -> None:
        self.frames.append((step, image))
        self._changes.append(moved)
        while len(self.frames) > self.keep:
            self._drop_least()

    def _drop_least(self) -> None:
        """Remove the interior frame that changed least; its successor now follows its predecessor."""
        i = 1 + int(np.argmin(self._changes[1:-1]))
        del self.frames[i], self._changes[i]
        self._changes[i] = change(self.frames[i - 1][1], self.frames[i][1])

    def __len__(self) -> int:
        return len(self.frames)
