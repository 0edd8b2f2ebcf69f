"""Pixel conversions shared by the engine and the UI: tensors, resizing, previews, PNG bytes."""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image

from playground.sprites.checks import SpriteError, as_rgba, check_size, short_repr


def clear_transparent(arr: np.ndarray) -> np.ndarray:
    """Zero the colour of fully transparent pixels, so invisible colour never reaches a model."""
    arr[arr[..., 3] == 0, :3] = 0
    return arr


# Resizing -------------------------------------------------------------------------------------
def _pad_to(arr: np.ndarray, size: int) -> np.ndarray:
    """Centre a picture that fits inside size x size on a transparent square of that size."""
    h, w = arr.shape[:2]
    out = np.zeros((size, size, 4), dtype=np.uint8)
    top, left = (size - h) // 2, (size - w) // 2
    out[top:top + h, left:left + w] = arr
    return out


def _nearest(arr: np.ndarray, width: int, height: int) -> np.ndarray:
    """Nearest-neighbour resize: keeps pixel art crisp when scaling up."""
    rows = np.arange(height) * arr.shape[0] // height
    cols = np.arange(width) * arr.shape[1] // width
    return arr[rows][:, cols].copy()


def _box_premultiplied(arr: np.ndarray, width: int, height: int) -> np.ndarray:
    """Area-average downscale on premultiplied alpha, so hidden colours cannot bleed in."""
    alpha = arr[..., 3].astype(np.float32) / 255.0
    planes = [arr[..., c].astype(np.float32) * alpha for c in range(3)] + [alpha * 255.0]
    small = [np.asarray(Image.fromarray(p).resize((width, height), Image.Resampling.BOX))
             for p in planes]
    a = small[3]
    rgb = np.stack(small[:3], axis=-1) / np.where(a > 0, a / 255.0, 1.0)[..., None]
    out = np.concatenate([rgb, a[..., None]], axis=-1)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def resize_rgba(arr: np.ndarray, size: int) -> np.ndarray:
    """Square RGBA of size x size: keep the aspect, box down or nearest up, pad transparently."""
    # Resize before padding, so a 4,000,000x1 strip never becomes a 4,000,000-pixel-wide square.
    arr = as_rgba(arr)
    check_size(size)
    h, w = arr.shape[:2]
    n = max(h, w)
    if n != size:
        width, height = max(1, round(w * size / n)), max(1, round(h * size / n))
        arr = (_box_premultiplied if n > size else _nearest)(arr, width, height)
    return clear_transparent(_pad_to(arr, size))


# Tensors and previews -------------------------------------------------------------------------
def to_tensor(arr: np.ndarray) -> torch.Tensor:
    """uint8 RGBA (H, W, 4) as float32 (4, H, W) in [0, 1], the layout models train on."""
    arr = as_rgba(arr)
    return torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1).float().div(255.0)


def from_tensor(t: torch.Tensor) -> np.ndarray:
    """A model's (4, H, W) or (3, H, W) output as uint8 RGBA, clamped and rounded (NaN -> 0)."""
    t = t.detach().to("cpu", torch.float32)
    if t.dim() == 4 and t.shape[0] == 1:
        t = t[0]
    if t.dim() != 3 or t.shape[0] not in (3, 4):
        raise SpriteError(f"Expected a (4, H, W) tensor, got shape {tuple(t.shape)}.")
    t = torch.nan_to_num(t, nan=0.0).clamp(0.0, 1.0).mul(255.0).round().to(torch.uint8)
    arr = t.permute(1, 2, 0).contiguous().numpy()
    if arr.shape[2] == 3:
        arr = np.concatenate([arr, np.full(arr.shape[:2] + (1,), 255, np.uint8)], axis=-1)
    return arr


def upscale(arr: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement: how pixel art is shown without blur."""
    if isinstance(factor, bool) or not isinstance(factor, int | np.integer) or not 1 <= factor <= 64:
        raise SpriteError(f"The upscale factor must be a whole number from 1 to 64, not "
                          f"{short_repr(factor)}.")
    arr = np.asarray(arr)
    return arr.repeat(factor, axis=0).repeat(factor, axis=1)


def checkerboard_composite(arr: np.ndarray, cell: int = 8) -> np.ndarray:
    """RGB preview with transparency shown over a light grey checkerboard."""
    arr = as_rgba(arr)
    cell = max(1, int(cell))
    h, w = arr.shape[:2]
    yy, xx = np.indices((h, w))
    board = np.where(((yy // cell) + (xx // cell)) % 2 == 0, 240, 204).astype(np.uint32)
    alpha = arr[..., 3:].astype(np.uint32)
    rgb = arr[..., :3].astype(np.uint32)
    out = (rgb * alpha + board[..., None] * (255 - alpha) + 127) // 255
    return out.astype(np.uint8)


def to_png_bytes(arr: np.ndarray) -> bytes:
    """Exact-pixel PNG (RGBA or RGB uint8), for previews and downloads."""
    arr = np.asarray(arr)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise SpriteError(f"Expected a uint8 (H, W, 3 or 4) array, got {arr.dtype} {arr.shape}.")
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(arr)).save(buf, format="PNG")
    return buf.getvalue()
