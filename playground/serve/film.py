"""The filmstrip: the moments the sprite changed, not fixed steps. Every picture the worker
publishes is offered; one is kept when its error against the target has fallen (or risen) by a
visible factor since the last kept frame, so the strip shows the sprite forming in even steps of
quality whether that takes ten steps or ten thousand. When the strip is full, the frame that adds
least (the smallest change from its predecessor) makes way; the first and the last always stay."""

from __future__ import annotations

import numpy as np

KEEP = 10  # frames in the strip
FACTOR = 0.6  # a frame is kept when the error fell to 60% of the last kept one's (or rose by 1/0.6)
GIF_STEPS = frozenset(sorted({round(1.25 ** k) for k in range(80)})[1:])  # ~60 log-spaced frames
VISIBLE = 3.0  # ...and the picture moved by at least this much per channel (of 255)


def change(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two uint8 pictures, per channel, in 0..255."""
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


class Filmstrip:
    """(step, picture) frames at the moments of change, measured against the target."""

    def __init__(self, target: np.ndarray | None = None, keep: int = KEEP) -> None:
        self.target, self.keep = target, keep
        self.frames: list[tuple[int, np.ndarray]] = []
        self._errors: list[float] = []

    def _error(self, image: np.ndarray) -> float:
        """How far a picture is from the target (or from black without one)."""
        if self.target is None or self.target.shape != image.shape:
            return change(image, np.zeros_like(image)) + 1.0
        return change(image, self.target) + 0.5  # + 0.5: an exact fit is not an infinite fall

    def offer(self, step: int, image: np.ndarray) -> bool:
        """Keep this picture if its error moved by FACTOR since the last kept one; True if kept."""
        if self.frames and self.frames[-1][0] == step:
            return False
        error = self._error(image)
        if self.frames:
            last = self._errors[-1]
            if FACTOR * last < error < last / FACTOR or change(self.frames[-1][1], image) < VISIBLE:
                return False
        self._append(step, image, error)
        return True

    def finish(self, step: int, image: np.ndarray) -> None:
        """The run's last picture always ends the strip."""
        if self.frames and self.frames[-1][0] == step:
            self.frames[-1] = (step, image)
            return
        self._append(step, image, self._error(image))

    def _append(self, step: int, image: np.ndarray, error: float) -> None:
        self.frames.append((step, image))
        self._errors.append(error)
        while len(self.frames) > self.keep:
            self._drop_least()

    def _drop_least(self) -> None:
        """Remove the interior frame whose error differs least (in ratio) from its predecessor's."""
        logs = np.log(self._errors)
        i = 1 + int(np.argmin(np.abs(np.diff(logs))[:-1]))
        del self.frames[i], self._errors[i]

    def __len__(self) -> int:
        return len(self.frames)
