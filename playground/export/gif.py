"""The forming animation as a looping GIF: the sprite over a checkerboard, one frame per snapshot.

Kept apart from the other downloads because palette work and captions are most of its code.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from playground import sprites

Frames = Sequence[tuple[int, np.ndarray]]

GIF_FRAME_MS = 120  # each frame of the forming animation
GIF_FINAL_MS = 2000  # the finished sprite stays up longer before the loop restarts
GIF_MAX_FRAMES = 120  # more frames are thinned evenly (the first and last are kept)


def animation_gif(frames: Frames, scale: int = 8, frame_ms: int = GIF_FRAME_MS,
                  final_ms: int = GIF_FINAL_MS, label: bool = True) -> bytes:
    """The sprite forming, frame by frame over a light checkerboard, looping forever."""
    frames = _gif_frames(frames)
    pictures = [_gif_picture(arr, step, scale, label) for step, arr in frames]
    durations = [frame_ms] * (len(pictures) - 1) + [final_ms]
    buf = io.BytesIO()
    pictures[0].save(buf, format="GIF", save_all=True, append_images=pictures[1:],
                     duration=durations, loop=0, disposal=1)
    return buf.getvalue()


def _gif_frames(frames: Frames) -> list[tuple[int, np.ndarray]]:
    """Frames of the last frame's shape, in step order, thinned evenly to GIF_MAX_FRAMES."""
    frames = sorted(((int(s), np.asarray(a)) for s, a in frames), key=lambda f: f[0])
    if not frames:
        raise ValueError("an animation needs at least one frame")
    shape = frames[-1][1].shape
    frames = [f for f in frames if f[1].shape == shape]
    if len(frames) > GIF_MAX_FRAMES:
        keep = np.unique(np.linspace(0, len(frames) - 1, GIF_MAX_FRAMES).round().astype(int))
        frames = [frames[i] for i in keep]
    return frames


def _gif_picture(arr: np.ndarray, step: int, scale: int, label: bool) -> Image.Image:
    """One frame: the sprite on a checkerboard (one square per pixel), upscaled, a step caption.

    The palette is found at the sprite's own size and only the indices are upscaled, which keeps a
    long animation of a 64-pixel sprite fast."""
    small = sprites.checkerboard_composite(arr, cell=1)
    index, palette = _palette(small, reserve=2 if label else 0)
    index = sprites.upscale(index, scale)
    if label:
        ink = _caption(f"step {step:,}", index.shape[1])
        palette = np.concatenate([palette, [_PAPER, _INK]]).astype(np.uint8)
        index = np.concatenate([index, np.where(ink, len(palette) - 1, len(palette) - 2)], axis=0)
    img = Image.fromarray(index.astype(np.uint8), mode="P")
    img.putpalette(palette.tobytes())
    return img


_PAPER, _INK = (255, 255, 255), (40, 40, 40)  # the caption's two colours


def _palette(rgb: np.ndarray, reserve: int) -> tuple[np.ndarray, np.ndarray]:
    """(index, palette) of an RGB image: exact when 256 - reserve colours suffice, else median cut."""
    keys = (rgb[..., 0].astype(np.uint32) << 16) | (rgb[..., 1].astype(np.uint32) << 8) | rgb[..., 2]
    colours, index = np.unique(keys, return_inverse=True)
    if len(colours) <= 256 - reserve:
        palette = np.stack([colours >> 16, (colours >> 8) & 255, colours & 255], axis=1)
        return index.reshape(rgb.shape[:2]), palette.astype(np.uint8)
    quantized = Image.fromarray(rgb).quantize(256 - reserve, method=Image.Quantize.MEDIANCUT,
                                              dither=Image.Dither.NONE)
    palette = np.array(quantized.getpalette()[:3 * (256 - reserve)], np.uint8).reshape(-1, 3)
    return np.asarray(quantized), palette


def _caption(text: str, width: int) -> np.ndarray:
    """Where the caption's un-antialiased text has ink, as a (14, width) boolean mask."""
    strip = Image.new("L", (width, 14), 255)
    draw = ImageDraw.Draw(strip)
    draw.fontmode = "1"
    draw.text((3, 1), text, fill=0, font=ImageFont.load_default(11))
    return np.asarray(strip) < 128
