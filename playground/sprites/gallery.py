"""The hand-drawn sprite gallery: the Sprite type, and SPRITES as drawn in gallery.toml."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from types import MappingProxyType
from typing import Any

import numpy as np

from playground.sprites.checks import SpriteError

GALLERY_FILE = "gallery.toml"  # beside this module; see its header for the format
_FIELDS = ("description", "palette", "rows")
_HEX = re.compile(r"#[0-9a-fA-F]{6}")
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")


@dataclass(frozen=True)
class Sprite:
    """A hand-made gallery sprite: rows of palette characters, '.' being transparent."""

    name: str
    rows: tuple[str, ...]
    palette: Mapping[str, str] = field(hash=False)
    description: str = ""

    def __post_init__(self) -> None:
        """Check the drawing once, so a typo in a row fails at import, not in training."""
        object.__setattr__(self, "rows", tuple(self.rows))
        object.__setattr__(self, "palette", MappingProxyType(dict(self.palette)))
        if not _NAME.fullmatch(self.name):
            raise SpriteError(f"Sprite name {self.name!r} must be lowercase and URL-safe.")
        n = len(self.rows)
        if n == 0 or any(len(row) != n for row in self.rows):
            raise SpriteError(f"Sprite {self.name!r} must be square with rows of equal length.")
        for ch, colour in self.palette.items():
            if len(ch) != 1 or ch == "." or not _HEX.fullmatch(colour):
                raise SpriteError(f"Sprite {self.name!r} has a bad palette entry {ch!r}.")
        unknown = set("".join(self.rows)) - set(self.palette) - {"."}
        if unknown:
            raise SpriteError(f"Sprite {self.name!r} uses characters missing from its palette: "
                              f"{''.join(sorted(unknown))}.")

    @property
    def size(self) -> int:
        """Pixels per side (sprites are square)."""
        return len(self.rows)

    def to_array(self) -> np.ndarray:
        """The sprite as uint8 RGBA (size, size, 4); '.' becomes (0, 0, 0, 0)."""
        lut = {".": (0, 0, 0, 0)}
        for ch, colour in self.palette.items():
            lut[ch] = (int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16), 255)
        return np.array([[lut[ch] for ch in row] for row in self.rows], dtype=np.uint8)


def parse_gallery(text: str) -> dict[str, Sprite]:
    """The sprites a gallery file draws, in file order; a mistake names the sprite at fault."""
    try:
        tables = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpriteError(f"The sprite gallery is not valid TOML: {exc}.") from None
    return {name: _sprite_from_table(name, table) for name, table in tables.items()}


def _sprite_from_table(name: str, table: Any) -> Sprite:
    """One [name] table as a Sprite; a missing, extra or mistyped key fails so typos cannot hide."""
    if not isinstance(table, dict) or sorted(table) != list(_FIELDS):
        raise SpriteError(f"Gallery sprite {name!r} must have exactly the keys "
                          f"{', '.join(_FIELDS)}.")
    description, palette, rows = (table[key] for key in _FIELDS)
    if not isinstance(description, str) or not description or "\n" in description:
        raise SpriteError(f"Gallery sprite {name!r} needs a one-line description.")
    if not isinstance(palette, dict) or not all(isinstance(c, str) for c in palette.values()):
        raise SpriteError(f"Gallery sprite {name!r} needs a palette of '#rrggbb' strings.")
    if not isinstance(rows, str):
        raise SpriteError(f"Gallery sprite {name!r} needs its rows as one multi-line string.")
    return Sprite(name=name, rows=tuple(rows.splitlines()), palette=palette, description=description)


def load_gallery() -> dict[str, Sprite]:
    """The gallery shipped with the package, so the drawings stay data, not Python literals."""
    text = files("playground.sprites").joinpath(GALLERY_FILE).read_text(encoding="utf-8")
    return parse_gallery(text)


SPRITES: dict[str, Sprite] = load_gallery()
