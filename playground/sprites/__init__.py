"""The sprite gallery, the safe upload loader, the compact share codec and pixel conversions.

Every picture enters the playground through this package, as a uint8 RGBA array of shape
(H, W, 4) whose fully transparent pixels are (0, 0, 0, 0). Nothing here imports Streamlit.
"""

from __future__ import annotations

from playground.sprites.checks import SpriteError
from playground.sprites.codec import CODE_PREFIX, decode_sprite, encode_sprite
from playground.sprites.gallery import SPRITES, Sprite
from playground.sprites.load import load_sprite
from playground.sprites.pixels import (
    checkerboard_composite,
    from_tensor,
    resize_rgba,
    to_png_bytes,
    to_tensor,
    upscale,
)
from playground.sprites.upload import MAX_PIXELS, MAX_UPLOAD_BYTES, read_image

__all__ = [
    "CODE_PREFIX", "MAX_PIXELS", "MAX_UPLOAD_BYTES", "SPRITES", "Sprite", "SpriteError",
    "checkerboard_composite", "decode_sprite", "encode_sprite", "from_tensor", "load_sprite",
    "read_image", "resize_rgba", "to_png_bytes", "to_tensor", "upscale",
]
