"""The two directions a loss-landscape slice is drawn along, and where a trajectory lies on them.

- Random, filter-normalised (Li et al., 2018, "Visualizing the Loss Landscape of Neural Nets"):
  a Gaussian direction shaped like the weights, each filter (a slice along a weight's first
  dimension: a conv output channel, a linear layer's row) rescaled to the norm of the same filter
  of the weights, so a step of 1 moves every filter by its own size and scale-invariant networks
  compare fairly. Biases and other 1-D parameters get a zero direction, as the paper's code does
  (`ignore="biasbn"`). A model with no filter of more than one number (the paths lesson's point,
  the line's 1x1 weight) gets two orthonormal random directions in weight units instead: filter
  normalisation would give it two parallel (or zero) directions.
- PCA of the trajectory: the recorded weights minus the final weights, centred, through an SVD;
  the top two right singular vectors span the plane that holds most of the path's variance, and
  the final weights project to the origin.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def flatten(tensors: list[Tensor]) -> Tensor:
    """All the weights as one detached vector (the order of `model.parameters()`)."""
    return torch.cat([t.detach().reshape(-1) for t in tensors])


def split_like(flat: Tensor, tensors: list[Tensor]) -> list[Tensor]:
    """A flat vector cut back into views shaped like `tensors`."""
    sizes = [t.numel() for t in tensors]
    return [part.view_as(t) for part, t in zip(flat.split(sizes), tensors, strict=True)]


def has_filters(weights: list[Tensor]) -> bool:
    """Whether some weight has filters of more than one number (what filter normalisation needs)."""
    return any(w.dim() >= 2 and w[0].numel() > 1 for w in weights)


def filter_normalised(weights: list[Tensor], generator: torch.Generator) -> list[Tensor]:
    """One random direction, each filter scaled to the weights' filter norm; 1-D params zeroed."""
    out = []
    for w in weights:
        d = torch.randn(w.shape, generator=generator, dtype=w.dtype)
        if w.dim() <= 1:
            d.zero_()
        else:
            d_norms = d.reshape(len(d), -1).norm(dim=1)
            w_norms = w.detach().reshape(len(w), -1).norm(dim=1)
            scale = w_norms / d_norms.clamp_min(torch.finfo(d.dtype).tiny)
            d *= scale.reshape(-1, *([1] * (w.dim() - 1)))
        out.append(d)
    return out


def random_plane(weights: list[Tensor], seed: int) -> tuple[Tensor, Tensor, str]:
    """Two directions (flat vectors) and how they were normalised, in one sentence."""
    g = torch.Generator().manual_seed(seed)
    if has_filters(weights):
        d1 = flatten(filter_normalised(weights, g))
        d2 = flatten(filter_normalised(weights, g))
        return d1, d2, ("random, filter-normalised (Li et al., 2018): 1 = each filter moved by its "
                        "own norm; biases held fixed")
    dtype, n = weights[0].dtype, sum(w.numel() for w in weights)
    q, _ = torch.linalg.qr(torch.randn(n, 2, generator=g, dtype=dtype))
    return q[:, 0].contiguous(), q[:, 1].contiguous(), (
        "random, orthonormal (a model this small has no filters to normalise): 1 = one unit of weight")


def pca_plane(snapshots: Tensor, final: Tensor) -> tuple[Tensor, Tensor, np.ndarray]:
    """The top two principal directions of the trajectory (rows of `snapshots`, relative to the
    final weights) as unit vectors, and the share of the path's variance each holds (the second
    is ~0 for a straight path: its direction is then arbitrary)."""
    diffs = snapshots - final
    centred = diffs - diffs.mean(dim=0, keepdim=True)
    _, s, vh = torch.linalg.svd(centred.double(), full_matrices=False)
    if len(s) < 2 or not s[0] > 0:
        raise ValueError("the recorded weights never moved")
    share = (s ** 2 / (s ** 2).sum()).numpy()
    return vh[0].to(final.dtype), vh[1].to(final.dtype), share[:2]


def project(points: Tensor, d1: Tensor, d2: Tensor) -> tuple[np.ndarray, float]:
    """Coordinates (K, 2) of `points` (relative to the centre) in the plane of d1 and d2 (least
    squares, as the directions need not be orthogonal), and the share of the points' squared
    length that the plane holds (1: the path lies in the plane)."""
    basis = torch.stack([d1, d2], dim=1).double()
    pts = points.double()
    coords = torch.linalg.lstsq(basis, pts.T).solution.T
    total = float((pts ** 2).sum())
    held = float(((coords @ basis.T) ** 2).sum())
    return coords.numpy(), (held / total if total > 0 else 1.0)
