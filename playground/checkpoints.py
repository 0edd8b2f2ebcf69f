"""Checkpoints a learner keeps, as the course's scripts keep them: `final.pt` holds the whole run
(weights, optimizer, schedule, batch order, counters, history) so `resume` carries it on exactly;
`best.pt` holds the best weights by the monitored value and the metrics that made them best.

Both hold tensors and plain data only: `torch.load(path, weights_only=True)` reads them, and this
module never loads anything else (a checkpoint may come from someone else).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from playground.config import ConfigError, RunConfig
from playground.engine import Trainer

FORMAT = 1  # bumped when the layout changes, so an old file gets a clear refusal
Frames = Sequence[tuple[int, np.ndarray]]
RESUMABLE = ("ready", "paused", "running", "stopped", "completed")


class CheckpointError(ConfigError):
    """A checkpoint that cannot be read or carried on; the message says why and what to do."""


def best_metrics(trainer: Trainer) -> dict[str, Any]:
    """What made the best weights the best: the watched value, its epoch, the accuracy if known."""
    rules = trainer.rules
    loss = rules.best_loss if math.isfinite(rules.best_loss) else None
    return {"monitor": trainer.cfg.monitor, "by_validation": rules.by_validation,
            "loss": loss, "epoch": rules.best_epoch, "val_accuracy": rules.best_accuracy}


def history_state(trainer: Trainer) -> dict[str, Any]:
    """The history as a float64 tensor and its column names (what `resume` puts back)."""
    return {"columns": list(trainer.rows.columns), "values": torch.from_numpy(trainer.rows.array().copy())}


def final_checkpoint(trainer: Trainer, frames: Frames = ()) -> dict[str, Any]:
    """The whole run: `model` and `optimizer` state dicts at the top (as the seed scripts save
    them), the rest of the trainer's state, the history, the best metrics, the status and the
    sprite's frames so far (so a resumed run's GIF starts at step 0)."""
    state = trainer.state_dict()
    return {"format": FORMAT, "kind": "final", "config": trainer.cfg.to_dict(),
            "status": trainer.status, "model": state.pop("model"),
            "optimizer": state.pop("optimizer"), "trainer": state,
            "history": history_state(trainer), "best": best_metrics(trainer),
            "frames": {"steps": torch.tensor([s for s, _ in frames], dtype=torch.int64),
                       "images": torch.from_numpy(np.stack([a for _, a in frames]))
                       if frames else torch.empty(0, dtype=torch.uint8)}}


def saved_frames(checkpoint: dict[str, Any]) -> list[tuple[int, np.ndarray]]:
    """The (step, picture) frames a final checkpoint carries (none in other checkpoints)."""
    frames = checkpoint.get("frames") or {}
    steps = frames.get("steps", torch.empty(0)).tolist()
    return list(zip(steps, frames["images"].numpy(), strict=True)) if steps else []


def best_checkpoint(trainer: Trainer, optimizer: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The best weights as a full model state dict (None before any were kept). `optimizer` is the
    optimizer's state when those weights were current (a validated run's best epoch end); a
    sprite run keeps its best weights per step, before that step's update, without it."""
    if trainer.best_params is None:
        return None
    model = copy.deepcopy(trainer.b.model.state_dict())
    names = [n for n, p in trainer.b.model.named_parameters() if p.requires_grad]
    for name, tensor in zip(names, trainer.best_params, strict=True):
        model[name] = tensor.detach().clone()
    return {"format": FORMAT, "kind": "best", "config": trainer.cfg.to_dict(),
            "model": model, "optimizer": optimizer, "history": history_state(trainer),
            "best": best_metrics(trainer)}


def save(path: Path, checkpoint: dict[str, Any]) -> None:
    """Write a checkpoint (written whole to a temporary name first, so a crash leaves no half file)."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(checkpoint, tmp)
    tmp.replace(path)


def load(path: Path) -> dict[str, Any]:
    """Read a checkpoint safely; one clear sentence for a missing, foreign or unsafe file."""
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        data = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as exc:  # torch raises many kinds; the sentence is what matters
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path} is not a checkpoint this playground can read safely "
                              f"({first})") from None
    if not isinstance(data, dict) or "model" not in data or "config" not in data:
        raise CheckpointError(f"{path} holds no model and config (not a Pixel Playground checkpoint)")
    return data


def resume(checkpoint: dict[str, Any], epochs: int | None = None,
           device: str | None = None) -> Trainer:
    """A Trainer that carries the saved run on from its next step, history included; `epochs`
    raises the run's length (a completed run then goes on); `device` is where it goes on."""
    if checkpoint.get("kind") != "final" or "trainer" not in checkpoint:
        raise CheckpointError("only final.pt (or a checkpoint written when a run was stopped) "
                              "can be resumed; best.pt holds weights without the run's state")
    cfg = RunConfig.from_dict(checkpoint["config"])
    if epochs is not None:
        cfg = cfg.replace(epochs=epochs)
    status = checkpoint.get("status", "stopped")
    if status not in RESUMABLE:
        raise CheckpointError(f"this run ended {status.replace('_', ' ')}; its best weights are "
                              "in best.pt: start a new run from them rather than carrying it on")
    trainer = Trainer(cfg, device=device)
    trainer.load_state_dict({**checkpoint["trainer"], "model": checkpoint["model"],
                             "optimizer": checkpoint["optimizer"]})
    history = checkpoint["history"]
    if tuple(history["columns"]) != trainer.rows.columns:
        raise CheckpointError("the checkpoint's history columns do not match this version's")
    trainer.rows.extend(history["values"].numpy())
    if trainer.step_count >= cfg.total_steps:
        raise CheckpointError(f"the run already took all {cfg.total_steps:,} steps; give more "
                              f"epochs (now {cfg.epochs:,}) to carry it on")
    trainer.rules.status, trainer.rules.reason = "paused", ""
    return trainer
