"""Tensors as small pictures for the by-line view (loop_lines.py): every tensor a line touched
becomes a 2-D map of numbers, pooled when large, or only its norm when too large to draw.

Pure torch and numpy: what these return travels from a worker to the page in a snapshot, so it is
kept small (a map is at most MAX_SIDE x MAX_SIDE floats)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

MAX_SIDE = 48  # a map's largest side once pooled (a 48 x 48 float32 map is 9 KB)
MAX_POOL = 8  # pooling more than 8 x 8 numbers into one cell hides the map: show the norm instead
CHANNELS = "RGBA"


@dataclass
class Picture:
    """One tensor a line touched, as the page draws it."""

    name: str  # what it is: a parameter's name ("net.0.weight"), "output", "loss per element"
    kind: str  # grad, update, exp_avg, exp_avg_sq, momentum_buffer, ..., output, loss
    shape: tuple[int, ...]  # the tensor's real shape
    norm: float  # its L2 norm (nan for a gradient that is None)
    values: np.ndarray | None  # float32 (rows, cols), or (4, H, W) for a sprite; None: too large
    pooled: tuple[int, int] = (1, 1)  # each cell is the mean of rows x cols numbers
    none: bool = False  # the tensor is None (zero_grad with set_to_none): drawn as a blank map

    @property
    def sprite(self) -> bool:
        """Shaped like a sprite (4, H, W): drawn as one map per channel, R, G, B and A."""
        return self.values is not None and self.values.ndim == 3


def as_map(t: Tensor) -> tuple[np.ndarray | None, tuple[int, int]]:
    """A tensor as a 2-D map (a sprite-shaped one as (4, H, W)), each side pooled on its own to
    at most MAX_SIDE; (None, pool) when a cell would need more than MAX_POOL numbers a side."""
    t = t.detach().float().cpu()
    if t.dim() == 4 and t.shape[0] == 1 and t.shape[1] == len(CHANNELS):
        t = t[0]
    sprite = t.dim() == 3 and t.shape[0] == len(CHANNELS)
    grid = t if sprite else t.reshape(1, -1) if t.dim() <= 1 else t.reshape(t.shape[0], -1)
    pool = (math.ceil(grid.shape[-2] / MAX_SIDE), math.ceil(grid.shape[-1] / MAX_SIDE))
    if max(pool) > MAX_POOL:
        return None, pool
    if pool == (1, 1):
        return grid.numpy().copy(), pool
    planes = grid if sprite else grid[None]
    pooled = torch.nn.functional.avg_pool2d(planes[None], pool, ceil_mode=True)[0]
    return (pooled if sprite else pooled[0]).numpy(), pool


def picture(name: str, kind: str, t: Tensor | None, like: Tensor | None = None) -> Picture:
    """`t` as a Picture; a None tensor (a cleared gradient) as a blank map shaped like `like`."""
    if t is None:
        shape = tuple(like.shape) if like is not None else ()
        blank, pool = as_map(torch.zeros(shape)) if like is not None else (None, (1, 1))
        return Picture(name, kind, shape, math.nan, blank, pool, none=True)
    values, pool = as_map(t)
    return Picture(name, kind, tuple(t.shape), float(torch.linalg.vector_norm(t.detach().float())),
                   values, pool)


def sprite_rgba(pixels: Tensor) -> np.ndarray:
    """(4, H, W) display values in [0, 1] as uint8 (H, W, 4)."""
    pixels = torch.nan_to_num(pixels.detach().float().cpu(), nan=0.0).clamp(0.0, 1.0)
    return (pixels.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def row_indices(data: Tensor, batch: Tensor) -> np.ndarray:
    """Which rows of `data` the batch's rows are (the first match of each; -1 if none)."""
    data_np, batch_np = _rows(data), _rows(batch)
    where = {row.tobytes(): i for i, row in reversed(list(enumerate(data_np)))}
    return np.array([where.get(row.tobytes(), -1) for row in batch_np], dtype=np.int64)


def _rows(t: Tensor) -> np.ndarray:
    return np.ascontiguousarray(t.detach().cpu().reshape(len(t), -1).numpy())
