"""The share codec: a custom sprite as a short URL-safe text, and back, losslessly."""

from __future__ import annotations

import base64
import binascii
import re
import zlib

import numpy as np

from playground.sprites.checks import SpriteError, as_rgba

MAX_CODE_CHARS = 20_000
MAX_CODE_SIDE = 64
CODE_PREFIX = "v1."
_CODE_BODY = re.compile(r"[A-Za-z0-9_-]+")

# Layout before compression: kind, width, height, then for kind 0 (palette) the colour count minus
# one, the colours as RGBA bytes and one index byte per pixel; for kind 1 the RGBA bytes pixel by
# pixel; for kind 2 the same bytes plane by plane (smaller for photos). The shortest wins.
# zlib then URL-safe base64 without padding makes a 16x16 sprite about 100-200 characters.
_KIND_PALETTE = 0
_KIND_RAW = 1
_KIND_PLANAR = 2
_MAX_PAYLOAD = 4 + 256 * 4 + MAX_CODE_SIDE * MAX_CODE_SIDE * 4
_DAMAGED = "The sprite code in this link is damaged."


def _candidates(arr: np.ndarray) -> list[bytes]:
    """Every lossless layout of the sprite, before compression."""
    h, w = arr.shape[:2]
    flat = np.ascontiguousarray(arr).reshape(-1, 4)
    out = [bytes([_KIND_RAW, w, h]) + flat.tobytes(),
           bytes([_KIND_PLANAR, w, h]) + np.ascontiguousarray(arr.transpose(2, 0, 1)).tobytes()]
    colours, index = np.unique(flat.view(">u4").ravel(), return_inverse=True)
    if len(colours) <= 256:
        head = bytes([_KIND_PALETTE, w, h, len(colours) - 1])
        out.append(head + colours.astype(">u4").tobytes() + index.astype(np.uint8).tobytes())
    return out


def encode_sprite(arr: np.ndarray) -> str:
    """A short URL-safe text for a custom sprite (lossless), to put in a share link."""
    arr = as_rgba(arr)
    h, w = arr.shape[:2]
    if h > MAX_CODE_SIDE or w > MAX_CODE_SIDE:
        raise SpriteError(f"Only sprites up to {MAX_CODE_SIDE}x{MAX_CODE_SIDE} pixels can be "
                          f"shared; this one is {w}x{h}.")
    packed = min((zlib.compress(body, 9) for body in _candidates(arr)), key=len)
    code = CODE_PREFIX + base64.urlsafe_b64encode(packed).rstrip(b"=").decode("ascii")
    if len(code) > MAX_CODE_CHARS:
        raise SpriteError(f"This sprite has too much fine detail for a link ({len(code)} "
                          f"characters; the limit is {MAX_CODE_CHARS}).")
    return code


def _inflate(raw: bytes) -> bytes:
    """Decompress at most what a 64x64 sprite can need, so a zip bomb stops early."""
    d = zlib.decompressobj()
    try:
        body = d.decompress(raw, _MAX_PAYLOAD + 1)
    except zlib.error:
        raise SpriteError(_DAMAGED) from None
    if len(body) > _MAX_PAYLOAD or d.unconsumed_tail:
        raise SpriteError("The sprite code in this link holds more than a 64x64 sprite.")
    if not d.eof or d.unused_data:
        raise SpriteError(_DAMAGED)
    return body


def _parse_payload(body: bytes) -> np.ndarray:
    """Rebuild the RGBA array from the decompressed bytes, checking every length and index."""
    if len(body) < 3 or body[0] not in (_KIND_PALETTE, _KIND_RAW, _KIND_PLANAR):
        raise SpriteError(_DAMAGED)
    w, h = body[1], body[2]
    if not (1 <= w <= MAX_CODE_SIDE and 1 <= h <= MAX_CODE_SIDE):
        raise SpriteError(f"The sprite code describes a {w}x{h} picture; sprites are 1 to "
                          f"{MAX_CODE_SIDE} pixels per side.")
    if body[0] in (_KIND_RAW, _KIND_PLANAR):
        if len(body) != 3 + w * h * 4:
            raise SpriteError(_DAMAGED)
        pixels = np.frombuffer(body, dtype=np.uint8, offset=3)
        if body[0] == _KIND_PLANAR:
            return pixels.reshape(4, h, w).transpose(1, 2, 0).copy()
        return pixels.reshape(h, w, 4).copy()
    if len(body) < 4:
        raise SpriteError(_DAMAGED)
    n = body[3] + 1
    start = 4 + 4 * n
    if len(body) != start + w * h:
        raise SpriteError(_DAMAGED)
    palette = np.frombuffer(body, dtype=np.uint8, count=4 * n, offset=4).reshape(n, 4)
    index = np.frombuffer(body, dtype=np.uint8, offset=start)
    if int(index.max()) >= n:
        raise SpriteError(_DAMAGED)
    return palette[index].reshape(h, w, 4).copy()


def decode_sprite(code: str) -> np.ndarray:
    """The RGBA array from a share code; hostile input gets a SpriteError, never a crash."""
    if not isinstance(code, str):
        raise SpriteError("The sprite code must be text.")
    code = code.strip()
    if not code:
        raise SpriteError("The sprite code is empty.")
    if len(code) > MAX_CODE_CHARS:
        raise SpriteError(f"The sprite code is {len(code)} characters long; the limit is "
                          f"{MAX_CODE_CHARS}.")
    if not code.startswith(CODE_PREFIX):
        raise SpriteError(f"This is not a sprite code (it should start with {CODE_PREFIX!r}).")
    text = code[len(CODE_PREFIX):]
    if not _CODE_BODY.fullmatch(text) or len(text) % 4 == 1:
        raise SpriteError(_DAMAGED)
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise SpriteError(_DAMAGED) from None
    return _parse_payload(_inflate(raw))
