"""The training loop one line at a time: zero_grad, forward, loss, backward, step.

`LineStepper` wraps a Trainer and runs the five lines of its next iteration one per call,
capturing what each line touched as small pictures (loop_pictures.py). The last line hands the
update to the Trainer's own bookkeeping (`Trainer.apply` and `close_step`), so the history row,
the run rules, epochs and schedules are exactly what `Trainer.step` leaves, and the numbers are
the same bit for bit (tests/test_loop_lines.py).

Until the last line the Trainer's state is untouched but for the batch it handed out: a run
parked mid-iteration is saved as at the iteration's start (`state_dict`), and a stepper built on
it with `at=k` replays the first k lines, which give the same tensors again (same weights, batch
and dropout generator).

LBFGS is refused: its step calls zero_grad, forward, loss and backward itself, several times, in
a closure (a line search), so the five lines do not run one after another.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from playground.engine import Trainer
from playground.history import Table, packed
from playground.ingredients import data_tensors
from playground.lessons import classify
from playground.loop_pictures import Picture, picture, row_indices, sprite_rgba
from playground.losses import PerExample

LINES = ("zero_grad", "forward", "loss", "backward", "step")
LBFGS_REFUSED = ("LBFGS runs zero_grad, forward, loss and backward several times inside one "
                 "optimizer.step(closure) (a line search), so it cannot stop between them: use Step.")
POSITION = ("loader_rng", "in_epoch", "epoch", "epoch_losses")  # where in the data a run stands
MEMBERS_SHOWN = 32  # sprites of a classify batch sent to the page


class LineRefused(ValueError):
    """This run cannot be stepped by line (LBFGS); the message says why in one sentence."""


@dataclass
class LineView:
    """What one line did: where in the loop it ran, what the batch holds, the tensors it touched."""

    line: int  # index in LINES of the line just run
    step: int  # the optimizer step this iteration makes (1 for the first)
    epoch: int
    batch: int  # the batch's place in its epoch (1 for the first)
    batches: int  # batches per epoch
    members: dict[str, Any]  # the batch: kind "whole", "pixels" (mask), "sprites", "houses"
    pictures: list[Picture] = field(default_factory=list)
    note: str = ""  # one sentence: what the line did
    loss: float | None = None
    sprite: np.ndarray | None = None  # forward's output as a sprite, uint8 (H, W, 4)
    values: dict[str, list] = field(default_factory=dict)  # per member: predicted, target, loss
    ratios: dict[str, float] = field(default_factory=dict)  # step: ||update|| / ||weight||
    row: Table | None = None  # step: the history row the Trainer wrote (a one-row Table)

    @property
    def name(self) -> str:
        return LINES[self.line]

    @property
    def next_line(self) -> int:
        return (self.line + 1) % len(LINES)


class LineStepper:
    """Runs a Trainer's next iteration one line at a time (see the module's docstring)."""

    def __init__(self, trainer: Trainer, at: int = 0) -> None:
        if trainer.cfg.optimizer == "lbfgs":
            raise LineRefused(LBFGS_REFUSED)
        self.t, self.at = trainer, 0
        self.last_row: Any | None = None
        self._seconds = 0.0
        self._reset()
        for _ in range(at):
            self.run_line(capture=False)

    def _reset(self) -> None:
        self._batch: tuple | None = None
        self._out: Tensor | None = None
        self._loss: Tensor | None = None
        self._rng: Tensor | None = None
        self._position: dict[str, Any] = {}
        self._where: tuple[int, int, int] = (0, 0, 0)
        self._members: dict[str, Any] = {}

    @property
    def mid_iteration(self) -> bool:
        return self.at > 0

    def run_line(self, capture: bool = True) -> LineView | None:
        """Run the next line; what it touched (None once the run has ended, or when not capturing)."""
        if self.at == 0 and not self._open():
            return None
        line = self.at
        t0 = perf_counter()
        if line == 0:
            self.t.b.loop.zero_grad(self.t.b.optimizer)  # as the Trainer does (and the run's bug)
        elif line == 1:
            torch.set_rng_state(self._rng)  # the run's dropout generator, as next_batch left it
            self._out = self.t.b.model(self._batch[0])
            self._rng = torch.get_rng_state()
        elif line == 2:
            self._loss = self.t.b.criterion(self._out, self._batch[1])
        elif line == 3:
            self._loss.backward()
        else:
            return self._step(capture, t0)
        self._seconds += perf_counter() - t0
        self.at += 1
        return self._view(line) if capture else None

    def finish(self) -> Any | None:
        """Run the rest of this iteration (a whole one if none is open) without pictures; its
        history row (None once the run has ended)."""
        self.last_row = None
        self.run_line(capture=False)
        while self.at:
            self.run_line(capture=False)
        return self.last_row

    def state_dict(self) -> dict[str, Any]:
        """The Trainer's state as at this iteration's start (learning-rate changes kept)."""
        state = self.t.state_dict()
        state.update(copy.deepcopy(self._position) if self.at else {})
        return state

    # The lines ---------------------------------------------------------------------------------
    def _open(self) -> bool:
        """Take the iteration's batch (noting where the data stood, to rewind a parked run)."""
        t = self.t
        self._reset()
        state = t.state_dict()
        self._position = {k: state[k] for k in POSITION}
        epoch = t.epoch
        batch = t.next_batch()
        if batch is None:
            return False
        self._batch, self._rng = batch, torch.get_rng_state()
        place = 1 if t.epoch != epoch else state["in_epoch"] + 1
        self._where = (t.step_count + 1, t.epoch, place)
        self._members = members(t, batch)
        return True

    def _step(self, capture: bool, t0: float) -> LineView | None:
        """optimizer.step(): the Trainer checks, keeps the best weights, steps and writes its row."""
        t = self.t
        before = [p.detach().clone() for p in t.params] if capture else []
        values = t.apply(self._loss)
        torch.set_rng_state(self._rng)  # close_step keeps it as the run's dropout generator
        seconds = self._seconds + perf_counter() - t0
        self.last_row = t.close_step(values, seconds)
        view = self._view(4, before) if capture else None
        self._seconds, self.at, self._batch = 0.0, 0, None
        return view

    # What each line touched --------------------------------------------------------------------
    def _view(self, line: int, before: list[Tensor] | None = None) -> LineView:
        step, epoch, place = self._where
        view = LineView(line, step, epoch, place, len(self.t.b.loader), self._members)
        with torch.no_grad():
            [_zeroed, _forward, _loss, _backward, _stepped][line](self, view, before)
        return view

    def named(self) -> list[tuple[str, nn.Parameter]]:
        return [(n, p) for n, p in self.t.b.model.named_parameters() if p.requires_grad]


def _zeroed(s: LineStepper, view: LineView, _: Any) -> None:
    view.pictures = [picture(n, "grad", p.grad, like=p) for n, p in s.named()]
    view.note = ("Every gradient is now None (set_to_none=True): nothing is left over from the "
                 "last batch, so backward will start from a blank slate.")


def _forward(s: LineStepper, view: LineView, _: Any) -> None:
    out, t = s._out, s.t
    kind = t.cfg.task
    if kind == "generate":
        view.sprite = _sprite_of(s, out)
        view.pictures = [] if s._members.get("kind") == "pixels" else [picture("output", "output", out)]
        view.note = "The model turned the input into raw outputs (the display clamps them to pixels)."
    elif kind == "classify":
        view.pictures = [picture("class scores (logits)", "output", out)]
        view.values["predicted"] = classify.predict(out).tolist()
        view.note = "The model gave each sprite of the batch one score per class (logits)."
    else:
        view.values["predicted"] = out.reshape(-1).tolist()
        view.values["target"] = s._batch[1].reshape(-1).tolist()
        view.note = "The line predicted a price for each house of the batch (in the model's units)."


def _loss(s: LineStepper, view: LineView, _: Any) -> None:
    view.loss = float(s._loss)
    each = per_element(s.t.b.criterion, s._out, s._batch[1])
    if each is not None and s.t.cfg.task == "generate":
        per_pixel = each.reshape(len(each), 4, -1).sum(1) if each.dim() == 4 else each.sum(1)
        view.pictures = [picture("loss per pixel", "loss", _on_canvas(s, per_pixel))]
    elif each is not None:
        view.values["loss"] = each.reshape(len(each), -1).sum(1).tolist()
    view.note = (f"The loss compares the output with the targets: {view.loss:.4g} "
                 "(one number; the map shows where it comes from).")


def _backward(s: LineStepper, view: LineView, _: Any) -> None:
    view.pictures = [picture(n, "grad", p.grad, like=p) for n, p in s.named()]
    norm = math.sqrt(sum(p.norm ** 2 for p in view.pictures if not p.none))
    view.note = (f"Autograd filled every .grad with d(loss)/d(weight) (total norm {norm:.3g}); "
                 "no weight has moved yet.")


def _stepped(s: LineStepper, view: LineView, before: list[Tensor]) -> None:
    t, row = s.t, s.last_row
    view.row = packed(t.columns, [row]) if row is not None else None
    state = t.b.optimizer.state
    for (name, p), old in zip(s.named(), before, strict=True):
        delta = p.detach() - old
        view.pictures.append(picture(name, "update", delta))
        den = float(torch.linalg.vector_norm(old))
        view.ratios[name] = float(torch.linalg.vector_norm(delta)) / den if den > 0 else math.nan
        for key, value in state.get(p, {}).items():
            if isinstance(value, Tensor) and value.shape == p.shape:
                view.pictures.append(picture(name, key, value))
    if row is not None:
        view.loss = float(row.loss)
    if t.diverged_at is not None and t.diverged_at == view.step:
        view.note = f"The step was not taken: {t.reason}."
    else:
        view.note = (f"The optimizer moved every weight (lr {row.lr:.3g}); the run's history has "
                     f"a new row, step {view.step}.")


# Helpers ---------------------------------------------------------------------------------------
def per_element(criterion: nn.Module, out: Tensor, target: Tensor) -> Tensor | None:
    """The loss before it is reduced to one number (per pixel and channel, or per sample)."""
    each = copy.deepcopy(criterion.per_element if isinstance(criterion, PerExample) else criterion)
    found = False
    for m in each.modules():
        if hasattr(m, "reduction"):
            m.reduction, found = "none", True
    return each(out, target).detach() if found else None


def members(t: Trainer, batch: tuple) -> dict[str, Any]:
    """Who is in the batch: which pixels (coordinate MLP), which sprites, which houses."""
    x, y = batch[0], batch[1]
    task, n = t.cfg.task, len(x)
    if task == "classify":
        shown = x[:MEMBERS_SHOWN].detach().cpu()
        images = (shown.permute(0, 2, 3, 1).clamp(0, 1).numpy() * 255).round().astype(np.uint8)
        return {"kind": "sprites", "count": n, "of": len(t.b.loader.dataset), "images": images,
                "labels": y[:MEMBERS_SHOWN].tolist(), "classes": list(classify.SHAPES[:t.cfg.classes])}
    inputs, targets = data_tensors(t.b.loader)[:2]
    if task == "line":
        index = row_indices(torch.cat([inputs, targets], 1), torch.cat([x, y], 1))
        return {"kind": "houses", "count": n, "of": len(inputs), "index": index.tolist()}
    if len(inputs) == 1:
        return {"kind": "whole", "count": 1, "of": 1}
    size = t.cfg.size
    mask = np.zeros(size * size, bool)
    mask[row_indices(inputs, x)] = True
    return {"kind": "pixels", "count": n, "of": len(inputs), "mask": mask.reshape(size, size)}


def _on_canvas(s: LineStepper, per_pixel: Tensor) -> Tensor:
    """Per-pixel values as an (H, W) map: a batch of pixels lands on its places (NaN elsewhere)."""
    size = s.t.cfg.size
    if s._members.get("kind") != "pixels":
        return per_pixel.reshape(size, size)
    canvas = torch.full((size * size,), math.nan)
    canvas[torch.from_numpy(s._members["mask"].reshape(-1))] = _in_grid_order(s, per_pixel)
    return canvas.reshape(size, size)


def _in_grid_order(s: LineStepper, values: Tensor) -> Tensor:
    """A batch's per-pixel values reordered to the pixels' places in the picture (row-major)."""
    inputs = data_tensors(s.t.b.loader)[0]
    order = np.argsort(row_indices(inputs, s._batch[0]), kind="stable")
    return values.detach().cpu()[torch.from_numpy(order)]


def _sprite_of(s: LineStepper, out: Tensor) -> np.ndarray:
    """The forward's output as display pixels; a batch of pixels drawn on a transparent canvas."""
    to_pixels, size = s.t.to_pixels, s.t.cfg.size
    if s._members.get("kind") != "pixels":
        return sprite_rgba(to_pixels(out[0]))
    canvas = torch.full((size * size, 4), 0.92)  # pixels outside the batch: light grey
    colours = _in_grid_order(s, to_pixels(out)).clone()
    colours[:, 3] = 1.0  # opaque: a fresh model's near-zero alpha would hide every colour
    canvas[torch.from_numpy(s._members["mask"].reshape(-1))] = colours
    return sprite_rgba(canvas.T.reshape(4, size, size))
