"""Pixel-art editor: a Streamlit custom component (v2) that paints an RGBA sprite cell by cell.

Data flow. Python sends the grid to the browser in `data` as one hex string ("rrggbbaa" per pixel,
row-major) with a `version` token. At the end of each stroke (pointer-up, a fill or Clear) the
browser calls `setStateValue("edit", {"base": version, "pixels": hex})`, which reruns the script;
`pixel_editor` decodes, validates and returns that grid. The version only changes when the caller's
sprite changes for another reason than being our own edit fed back, so the browser knows when to
load new pixels and Python knows when a stored edit has gone stale.

The browser side is real files, read once at import: assets/pixel_editor.html, .css and .js.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import streamlit as st

from playground.ui.assets import read_asset

MIN_SIZE, MAX_SIZE = 4, 64
TARGET_PX = 448  # the grid's side in CSS pixels; sizes 4..64 land in 399..448
MAX_SPRITE_COLOURS = 24  # the sprite's most frequent colours shown before the base palette
# PICO-8's 16 colours: a well-known, balanced pixel-art palette.
BASE_PALETTE = (
    "#000000", "#1d2b53", "#7e2553", "#008751", "#ab5236", "#5f574f", "#c2c3c7", "#fff1e8",
    "#ff004d", "#ffa300", "#ffec27", "#00e436", "#29adff", "#83769c", "#ff77a8", "#ffccaa",
)
STATE = "edit"  # the component state key the browser writes
_HEX_DIGITS = re.compile(r"[0-9a-fA-F]*")
_COLOUR = re.compile(r"#?([0-9a-fA-F]{6}|[0-9a-fA-F]{8})")

_COMPONENT = st.components.v2.component(
    "playground_pixel_editor",
    html=read_asset("pixel_editor.html"),
    css=read_asset("pixel_editor.css"),
    js=read_asset("pixel_editor.js"),
)


@dataclass(frozen=True)
class Edit:
    """A finished stroke as sent by the browser: the whole grid plus the version it was drawn on."""

    base: str
    pixels: np.ndarray


def check_sprite(pixels: np.ndarray) -> np.ndarray:
    """A clean copy of `pixels`; fail loudly on a caller's mistake rather than draw garbage."""
    if not isinstance(pixels, np.ndarray) or pixels.dtype != np.uint8:
        raise TypeError("pixels must be a uint8 numpy array of shape (H, W, 4)")
    if pixels.ndim != 3 or pixels.shape[2] != 4 or pixels.shape[0] != pixels.shape[1]:
        raise ValueError(f"pixels must have shape (N, N, 4), got {pixels.shape}")
    if not MIN_SIZE <= pixels.shape[0] <= MAX_SIZE:
        raise ValueError(f"sprite side must be {MIN_SIZE}..{MAX_SIZE}, got {pixels.shape[0]}")
    return clear_hidden(pixels.copy())


def clear_hidden(grid: np.ndarray) -> np.ndarray:
    """Zero RGB under alpha 0 so equal-looking sprites are equal arrays (in place, returned)."""
    grid[grid[..., 3] == 0, :3] = 0
    return grid


def encode_pixels(grid: np.ndarray) -> str:
    """The compact wire format: 'rrggbbaa' per pixel, row-major, lowercase."""
    return np.ascontiguousarray(grid, dtype=np.uint8).tobytes().hex()


def decode_pixels(text: object, size: int) -> np.ndarray | None:
    """Parse the wire format back to (size, size, 4) uint8, or None if it is malformed."""
    if not isinstance(text, str) or len(text) != size * size * 8:
        return None
    if not _HEX_DIGITS.fullmatch(text):  # bytes.fromhex alone would accept spaces
        return None
    flat = np.frombuffer(bytes.fromhex(text), dtype=np.uint8)
    return clear_hidden(flat.reshape(size, size, 4).copy())


def parse_edit(raw: object, size: int) -> Edit | None:
    """Validate what the browser stored; anything malformed counts as no edit instead of a crash."""
    if not isinstance(raw, Mapping) or not isinstance(raw.get("base"), str):
        return None
    pixels = decode_pixels(raw.get("pixels"), size)
    return None if pixels is None else Edit(base=raw["base"], pixels=pixels)


def sprite_hash(grid: np.ndarray) -> str:
    """A short content hash; the shape is included so equal bytes of other sizes differ."""
    digest = hashlib.blake2b(repr(grid.shape).encode(), digest_size=8)
    digest.update(np.ascontiguousarray(grid).tobytes())
    return digest.hexdigest()


def colour_hex(rgba: Sequence[int]) -> str:
    """'#rrggbb' for opaque colours, '#rrggbbaa' otherwise (what <input type=color> can't show)."""
    r, g, b, a = (int(v) for v in rgba)
    return f"#{r:02x}{g:02x}{b:02x}" + ("" if a == 255 else f"{a:02x}")


def sprite_colours(grid: np.ndarray, limit: int = MAX_SPRITE_COLOURS) -> list[str]:
    """The sprite's visible colours, most used first: redrawing in its own palette is one click."""
    visible = grid.reshape(-1, 4)[grid.reshape(-1, 4)[:, 3] > 0]
    counts = Counter(map(bytes, visible))
    return [colour_hex(c) for c, _ in counts.most_common(limit)]


def normalise_palette(palette: Sequence[str]) -> list[str]:
    """Lowercase '#rrggbb[aa]' without duplicates; a bad entry is the caller's bug, so raise."""
    out: list[str] = []
    for colour in palette:
        if not isinstance(colour, str) or not _COLOUR.fullmatch(colour):
            raise ValueError(f"palette colours must be '#rrggbb' or '#rrggbbaa', got {colour!r}")
        hexed = "#" + colour.lstrip("#").lower()
        if hexed.endswith("ff") and len(hexed) == 9:
            hexed = hexed[:7]
        if hexed not in out:
            out.append(hexed)
    return out


def build_palette(grid: np.ndarray, palette: Sequence[str] | None) -> list[str]:
    """The caller's palette, or the sprite's own colours followed by the base palette."""
    if palette is not None:
        return normalise_palette(palette)
    return normalise_palette([*sprite_colours(grid), *BASE_PALETTE])


def default_cell_px(size: int) -> int:
    """Whole CSS pixels per cell so the grid is about TARGET_PX wide with no fractional cells."""
    return max(1, TARGET_PX // size)


def _check_cell_px(cell_px: int | None, size: int) -> int:
    """The cell size to draw with; reject nonsense early instead of rendering an unusable grid."""
    if cell_px is None:
        return default_cell_px(size)
    if isinstance(cell_px, bool) or not isinstance(cell_px, int) or not 2 <= cell_px <= 128:
        raise ValueError(f"cell_px must be an int in 2..128, got {cell_px!r}")
    return cell_px


def check_key(key: str) -> str:
    """Streamlit's component ids reserve '__'; say so here instead of failing deep inside it."""
    if not isinstance(key, str) or not key or "__" in key:
        raise ValueError(f"key must be a non-empty str without '__', got {key!r}")
    return key


def _meta_key(key: str) -> str:
    """Where the editor keeps its bookkeeping in session state, next to the widget's own key."""
    return f"_pixel_editor_meta:{key}"


def _version(key: str, grid: np.ndarray) -> str:
    """A token that changes only when the caller's sprite changes, not when it is our own output."""
    digest = sprite_hash(grid)
    meta = st.session_state.get(_meta_key(key))
    if not isinstance(meta, dict):
        meta = {"gen": 0, "origin": digest, "input": digest, "out": None}
    elif digest != meta["input"]:
        if digest != meta["out"]:  # a different sprite arrived: start a new generation
            meta = {**meta, "gen": meta["gen"] + 1, "origin": digest}
        meta = {**meta, "input": digest}
    st.session_state[_meta_key(key)] = meta
    return f"{meta['gen']}-{meta['origin']}"


def reset_pixel_editor(key: str) -> None:
    """Start over from `pixels` on the next render, even when they equal the current ones.

    Use it for "Blank canvas" / "Start again" buttons: identical pixels can't signal a reset by
    content, and the browser may re-send its last edit, which this makes stale.
    """
    meta = st.session_state.get(_meta_key(key))
    if isinstance(meta, dict):
        st.session_state[_meta_key(key)] = {**meta, "gen": meta["gen"] + 1, "out": None}


def _remember_output(key: str, grid: np.ndarray) -> None:
    """Note what we returned, so the caller feeding it back as `pixels` isn't a new sprite."""
    meta = st.session_state[_meta_key(key)]
    st.session_state[_meta_key(key)] = {**meta, "out": sprite_hash(grid)}


def _stored_edit(key: str) -> Any:
    """The raw value the browser last stored under this key, if any."""
    state = st.session_state.get(key)
    return state.get(STATE) if isinstance(state, Mapping) else None


def _ignore() -> None:
    """Registering a callback makes 'edit' a declared state key; the rerun itself is all we need."""


def pixel_editor(
    pixels: np.ndarray,
    *,
    key: str,
    palette: list[str] | None = None,
    cell_px: int | None = None,
) -> np.ndarray | None:
    """Show an editable grid of `pixels`; return the edited sprite, or None until the user edits.

    `pixels` is uint8 (N, N, 4) RGBA with N in 4..64. The result is uint8 (N, N, 4) with RGB zeroed
    where alpha is 0. It stays the same until the next stroke; when `pixels` changes (other than by
    feeding the result back in), the editor shows the new sprite and returns None again.
    """
    grid, key = check_sprite(pixels), check_key(key)
    size = grid.shape[0]
    cell, colours = _check_cell_px(cell_px, size), build_palette(grid, palette)
    version = _version(key, grid)
    edit = parse_edit(_stored_edit(key), size)
    if edit is not None and edit.base != version:
        edit = None  # drawn on a sprite the caller has since replaced
    shown = grid if edit is None else edit.pixels
    data = {"key": key, "size": size, "cell": cell, "version": version,
            "pixels": encode_pixels(shown), "palette": colours}
    _COMPONENT(key=key, data=data, on_edit_change=_ignore)
    if edit is None:
        return None
    _remember_output(key, edit.pixels)
    return edit.pixels.copy()


def edit_value(pixels: np.ndarray, base: str) -> dict[str, Any]:
    """The session-state value a browser stroke would store; lets tests drive the editor."""
    return {STATE: {"base": base, "pixels": encode_pixels(check_sprite(pixels))}}

