"""The loss landscape around a run's current weights: a 2-D slice along two directions (see
directions.py) with the run's trajectory projected on it, and a 1-D slice along the step the
optimizer takes next from those weights (why a too-large learning rate overshoots).

Every loss here is the run's own criterion over its training data at fixed weights, in eval mode
without gradients: the whole training set when it holds at most MAX_EXAMPLES examples (every
lesson at its defaults), else a fixed seeded subset of that many. A run's history records the
loss of each step's batch before the step, in train mode; at the same weights, on the whole data,
without dropout, the two agree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from playground.compare.directions import flatten, pca_plane, project, random_plane, split_like
from playground.config import ConfigError, RunConfig
from playground.engine import Trainer
from playground.ingredients import Built, data_tensors
from playground.tasks import build

MAX_EXAMPLES = 2048  # training examples a landscape evaluates (a seeded subset beyond this)
CHUNK = 512  # examples per forward pass
SLICE_T = np.arange(-10, 51) / 20  # the 1-D slice: -0.5 .. 2.5 steps, 0 and 1 exactly on it

DIRECTIONS = {
    "pca": "The top two principal directions of the run's recorded weights: the plane that holds "
           "most of the path, so the path is drawn where it went.",
    "random": "Two random directions, each filter scaled to the weights' own filter norms (Li et "
              "al., 2018). A long path in millions of dimensions is nearly orthogonal to any "
              "random plane, so it barely shows: this is the view of the neighbourhood.",
}


@dataclass(frozen=True)
class LandscapeOptions:
    """How a landscape is drawn: its directions, points per side (odd: the centre is on the grid)
    and half-width in direction units (1 = the weights' own size for random directions, the
    farthest the path went for PCA)."""

    directions: str = "pca"
    resolution: int = 25
    span: float = 1.2
    seed: int = 0  # random directions' generator

    RANGES: ClassVar[dict[str, tuple[float, float]]] = {"resolution": (5, 61), "span": (0.05, 10.0)}

    def check(self, max_evals: int) -> None:
        """Refuse what is out of range or costs more evaluations than the server allows."""
        lo, hi = self.RANGES["resolution"]
        if self.directions not in DIRECTIONS:
            raise ConfigError(f"directions={self.directions!r} is not one of {', '.join(DIRECTIONS)}.")
        if not (lo <= self.resolution <= hi and self.resolution % 2):
            raise ConfigError(f"resolution={self.resolution} must be an odd number from {lo} to {hi}.")
        lo, hi = self.RANGES["span"]
        if not lo <= self.span <= hi:
            raise ConfigError(f"span={self.span:g} must be from {lo:g} to {hi:g}.")
        if self.resolution ** 2 > max_evals:
            raise ConfigError(f"resolution={self.resolution} needs {self.resolution ** 2:,} "
                              f"evaluations; this server allows {max_evals:,} per landscape.")


@dataclass
class Landscape:
    """A computed landscape: the grid, the path on it and the slice along the next step."""

    kind: str
    note: str  # how the directions were made, in one sentence
    axis: np.ndarray  # coordinates along each direction (the same on both axes)
    grid: np.ndarray  # (resolution, resolution) losses: grid[i, j] at (axis[j], axis[i])
    centre_loss: float
    path: pd.DataFrame  # step, a, b (coordinates) and loss (at the recorded weights, off the plane)
    in_plane: float  # share of the path's squared length the plane holds
    explained: tuple[float, float] | None  # PCA: share of the path's variance per direction
    line: pd.DataFrame  # t (in steps), loss: the 1-D slice along the next update
    lr: float  # the learning rate of that update
    update_norm: float  # its length (0: the optimizer took no step from here)
    step: int
    data: str  # which data the losses are over
    evaluations: int

    def frame(self) -> pd.DataFrame:
        """The grid in long form (a, b, loss), for a chart."""
        a, b = np.meshgrid(self.axis, self.axis)
        return pd.DataFrame({"a": a.ravel(), "b": b.ravel(), "loss": self.grid.ravel()})

    @property
    def best_t(self) -> float | None:
        """Where along the next step the loss is lowest (in steps), if anywhere finite."""
        finite = self.line[np.isfinite(self.line["loss"])]
        return None if finite.empty else float(finite.loc[finite["loss"].idxmin(), "t"])


def verdict(land: Landscape, optimizer: str) -> str:
    """What the 1-D slice says about the learning rate, in a sentence or two."""
    at = dict(zip(land.line["t"], land.line["loss"], strict=True))
    now, landed, best = at[0.0], at[1.0], land.best_t
    if land.update_norm == 0 or best is None:
        return "The optimizer takes no step from these weights (its update is zero or not finite)."
    if best <= 0:
        return ("Along this step the loss on the whole training set only rises: the step suits "
                "its own batch, not the data as a whole (a minibatch step near a minimum does this).")
    rate = ("" if optimizer == "lbfgs" else
            f" A learning rate of about {land.lr * best:.3g} (now {land.lr:.3g}) would land there.")
    if not landed < now:
        return (f"One full step lands higher than it starts ({now:.4g} → {landed:.4g}): it "
                f"overshoots the valley along its own direction, whose lowest point is at "
                f"{best:.2f} of the step.{rate}")
    if best < 0.6:
        return (f"The step goes down ({now:.4g} → {landed:.4g}) but past the lowest point along it, "
                f"at {best:.2f} of the step: the rate is on the large side here.{rate}")
    if best > 1.6:
        far = "beyond 2.5 steps" if best >= land.line["t"].max() else f"at {best:.1f} steps"
        return (f"The step goes down ({now:.4g} → {landed:.4g}) and the lowest point along it is "
                f"{far}: the rate is cautious here; a larger one would go further down.")
    return (f"The step lands near the lowest point along its direction ({now:.4g} → {landed:.4g}, "
            f"lowest at {best:.2f} of the step): the rate suits the curvature here.")


class Evaluator:
    """The run's loss at any weights: its model and criterion over its training data, eval mode."""

    def __init__(self, b: Built, seed: int) -> None:
        self.model, self.criterion = b.model.eval(), b.criterion
        self.params = [p for p in b.model.parameters() if p.requires_grad]
        self.batches, self.data = eval_batches(b, seed)

    def loss_at(self, flat: Tensor) -> float:
        """The loss with the weights set to `flat` (the model keeps them)."""
        with torch.no_grad():
            for p, value in zip(self.params, split_like(flat, self.params), strict=True):
                p.copy_(value)
            total = count = 0.0
            for x, y in self.batches:
                n = len(x) if x.dim() else 1
                total += float(self.criterion(self.model(x), y)) * n
                count += n
        return total / count


def eval_batches(b: Built, seed: int) -> tuple[list[tuple[Tensor, Tensor]], str]:
    """The training data in chunks (a fixed seeded subset past MAX_EXAMPLES), and what it is."""
    data = data_tensors(b.loader)
    if len(data) != 2:  # a loader with no stored tensors (the paths lesson: the point reads none)
        return [next(iter(b.loader))], "the lesson's one example"
    x, y = data
    n = len(x)
    if n > MAX_EXAMPLES:
        keep = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:MAX_EXAMPLES]
        x, y = x[keep], y[keep]
        what = f"a fixed subset of {MAX_EXAMPLES:,} of the {n:,} training examples"
    else:
        what = f"all {n:,} training example{'s' * (n != 1)}"
    return [(x[i:i + CHUNK], y[i:i + CHUNK]) for i in range(0, len(x), CHUNK)], what


def trajectory_matrix(trajectory: list[tuple[int, np.ndarray]], final: Tensor,
                      step: int) -> tuple[list[int], Tensor]:
    """Recorded steps and weights (K, P), ending with the current weights."""
    kept = [(s, w) for s, w in trajectory if s < step and w.shape == (final.numel(),)]
    steps = [s for s, _ in kept] + [step]
    rows = [torch.as_tensor(w, dtype=final.dtype) for _, w in kept] + [final]
    return steps, torch.stack(rows)


def plane(options: LandscapeOptions, params: list[Tensor], centre: Tensor,
          snapshots: Tensor) -> tuple[Tensor, Tensor, str, tuple[float, float] | None]:
    """The two directions (scaled so the span is in their units), a note, PCA's variance shares."""
    if options.directions == "random":
        d1, d2, note = random_plane(params, options.seed)
        return d1, d2, note, None
    if len(snapshots) < 3:
        raise ConfigError("This run recorded too few moments to find its path's plane (it needs "
                          "a few steps); use random directions.")
    try:
        u1, u2, share = pca_plane(snapshots, centre)
    except ValueError:
        raise ConfigError("This run's weights did not move: there is no path to draw; use "
                          "random directions.") from None
    if share[1] > 1e-9:
        note = "the path's top two principal directions: 1 = the farthest the path went"
        explained = (float(share[0]), float(share[1]))
    else:  # a straight path: its own direction, and a random one across it
        r = torch.randn(centre.numel(), generator=torch.Generator().manual_seed(options.seed),
                        dtype=centre.dtype)
        u2 = r - (r @ u1) * u1
        u2 = u2 / u2.norm()
        note, explained = "the path's own (straight) direction and a random one across it", None
    coords, _ = project(snapshots - centre, u1, u2)
    reach = float(np.abs(coords).max()) or 1.0
    return u1 * reach, u2 * reach, note, explained


def next_update(cfg: RunConfig, target: np.ndarray | None,
                state: dict[str, Any]) -> tuple[Tensor, Tensor, float]:
    """The weights now and the update one more step of the run would make from them (on a copy:
    its next batch, its optimizer state, its learning rate), with that rate."""
    trainer = Trainer(cfg, build(cfg, target))
    trainer.load_state_dict(state)
    trainer.rules.status = "running"  # an ended run is asked for one more step all the same
    before = flatten(trainer.params).clone()
    lr = trainer.lr
    trainer.step()
    return before, flatten(trainer.params) - before, lr


def compute(cfg: RunConfig, target: np.ndarray | None, state: dict[str, Any],
            trajectory: list[tuple[int, np.ndarray]], options: LandscapeOptions,
            max_evals: int = 10_000,
            on_progress: Callable[[int, int], None] | None = None) -> Landscape:
    """The landscape around the weights in `state` (a Trainer.state_dict); `on_progress(done,
    total)` is called after every evaluation (a job raises there to cancel)."""
    options.check(max_evals)
    b = build(cfg, target)
    b.model.load_state_dict(state["model"])
    ev = Evaluator(b, cfg.seed)
    centre = flatten(ev.params).clone()
    steps, snapshots = trajectory_matrix(trajectory, centre, int(state["step"]))
    d1, d2, note, explained = plane(options, ev.params, centre, snapshots)
    coords, in_plane = project(snapshots - centre, d1, d2)
    res, half = options.resolution, options.resolution // 2
    axis = (np.arange(res) - half) * (options.span / half)  # axis[half] is exactly 0
    total = res * res + len(steps) + len(SLICE_T)
    done = [0]

    def loss(flat: Tensor) -> float:
        value = ev.loss_at(flat)
        done[0] += 1
        if on_progress is not None:
            on_progress(done[0], total)
        return value

    grid = np.empty((res, res))
    for i, bv in enumerate(axis):
        for j, av in enumerate(axis):
            grid[i, j] = loss(centre + av * d1 + bv * d2)  # at (0, 0): the centre, exactly
    path_losses = [loss(w) for w in snapshots]
    before, update, lr = next_update(cfg, target, state)
    line = [loss(before + t * update) for t in SLICE_T]
    return Landscape(
        kind=options.directions, note=note, axis=axis, grid=grid, centre_loss=grid[half, half],
        path=pd.DataFrame({"step": steps, "a": coords[:, 0], "b": coords[:, 1],
                           "loss": path_losses}),
        in_plane=in_plane, explained=explained,
        line=pd.DataFrame({"t": SLICE_T, "loss": line}), lr=lr,
        update_norm=float(update.norm()), step=int(state["step"]), data=ev.data,
        evaluations=done[0])
