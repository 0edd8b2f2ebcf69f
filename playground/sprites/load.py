"""load_sprite: one entry point for a gallery name, a share code, file bytes or a path."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from playground.sprites.checks import SpriteError, as_rgba, check_size, short_repr
from playground.sprites.codec import CODE_PREFIX, decode_sprite
from playground.sprites.gallery import SPRITES
from playground.sprites.pixels import resize_rgba
from playground.sprites.upload import MAX_PIXELS, MAX_UPLOAD_BYTES, decode_upload


def _unknown_name(name: str) -> SpriteError:
    """The refusal for a name that is neither a sprite, a code nor a file, with suggestions."""
    some = ", ".join(list(SPRITES)[:8])
    return SpriteError(f"There is no sprite called {short_repr(name)}; try one of {some} "
                       f"({len(SPRITES)} in all).")


def _read_file(path: Path) -> bytes:
    """Read a local picture with the same size limit as an upload."""
    name = short_repr(path.name)
    try:
        size = path.stat().st_size if path.is_file() else None
        data = path.read_bytes() if size is not None and size <= MAX_UPLOAD_BYTES else b""
    except (OSError, ValueError):
        raise SpriteError(f"The file {name} could not be read.") from None
    if size is None:
        raise SpriteError(f"There is no file called {name} at that place.")
    if size > MAX_UPLOAD_BYTES:
        raise SpriteError(f"The file is {size / 2**20:.1f} MB; the limit is "
                          f"{MAX_UPLOAD_BYTES / 2**20:.0f} MB.")
    return data


def _existing_file(text: str) -> Path | None:
    """The path a string names, if it is a readable-looking file (odd strings are not paths)."""
    try:
        path = Path(text)
        return path if len(text) < 4096 and path.is_file() else None
    except (OSError, ValueError):
        return None


def _load_native(source: Any) -> np.ndarray:
    """Any supported source as RGBA at its own size (not yet squared)."""
    if isinstance(source, bytes | bytearray | memoryview):
        return decode_upload(bytes(source))[0]
    if isinstance(source, Path):
        return decode_upload(_read_file(source))[0]
    if not isinstance(source, str):
        raise SpriteError(f"A sprite source must be a name, a code, bytes or a path, not "
                          f"{type(source).__name__}.")
    if source in SPRITES:
        return SPRITES[source].to_array()
    path = _existing_file(source)
    if source.startswith(CODE_PREFIX) and path is None:
        return decode_sprite(source)
    if path is not None:
        return decode_upload(_read_file(path))[0]
    raise _unknown_name(source)


def load_sprite(source: str | bytes | Path, size: int | None = None) -> np.ndarray:
    """A gallery name, share code, file bytes or path as square uint8 RGBA (size x size)."""
    if size is not None:
        check_size(size)
    arr = as_rgba(_load_native(source))
    if size is None:
        side = max(arr.shape[:2])
        size = side if side * side <= MAX_PIXELS else math.isqrt(MAX_PIXELS)
    return resize_rgba(arr, size)
