"""SpriteError and the argument checks every sprite module shares."""

from __future__ import annotations

from typing import Any

import numpy as np

MAX_SIZE = 2048


class SpriteError(ValueError):
    """A picture or sprite code was refused; the message is one sentence a user can act on."""


def short_repr(value: Any) -> str:
    """Quote user text without letting a 10 KB string into a message."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "...'"


def check_size(size: int) -> None:
    """Target sizes are whole pixels from 1 to MAX_SIZE; anything else is a caller's mistake."""
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or not 1 <= size <= MAX_SIZE:
        raise SpriteError(f"The sprite size must be a whole number from 1 to {MAX_SIZE}, "
                          f"not {short_repr(size)}.")


def as_rgba(arr: Any) -> np.ndarray:
    """Insist on a uint8 (H, W, 4) array so shape mistakes fail here with a clear message."""
    arr = np.asarray(arr)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 4 or 0 in arr.shape:
        raise SpriteError(f"Expected a uint8 RGBA array of shape (H, W, 4), got {arr.dtype} "
                          f"{arr.shape}.")
    return arr
