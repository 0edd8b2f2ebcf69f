"""The run's files as bytes: CSV, JSON, PNG, checkpoint, the zip of everything and its README.

Pure functions of a config, history rows, images and (for the checkpoint) a model, so the app, the
CLI and the tests share them. Nothing here imports Streamlit; nothing here reads a user's file.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from playground import ingredients, sprites
from playground.config import RunConfig
from playground.export.gif import Frames, animation_gif
from playground.export.script import train_script
from playground.history import Table

Rows = Table | pd.DataFrame  # the history as the runner keeps it, or as train() returns it

_ZIP_TIME = (2024, 1, 1, 0, 0, 0)  # fixed timestamps: the same run gives the same zip bytes


# Tables and pictures --------------------------------------------------------------------------
def history_csv(rows: Rows) -> bytes:
    """Every history row as CSV (step, epoch, loss, lr, grad_norm, update_ratio, seconds, and a
    lesson's per-epoch columns)."""
    return history_frame(rows).to_csv(index=False).encode("utf-8")


def history_frame(rows: Rows) -> pd.DataFrame:
    """The history as a DataFrame with its own column names."""
    return rows if isinstance(rows, pd.DataFrame) else rows.frame()


def config_json(cfg: RunConfig) -> bytes:
    """The config as JSON, re-loadable with `RunConfig.from_json` or `--config`."""
    return (cfg.to_json() + "\n").encode("utf-8")


def sprite_png(arr: np.ndarray, scale: int = 1) -> bytes:
    """Exact-pixel PNG; scale > 1 enlarges with nearest neighbour so pixel art stays crisp."""
    return sprites.to_png_bytes(sprites.upscale(np.asarray(arr), scale))


# Checkpoint -----------------------------------------------------------------------------------
def checkpoint_bytes(source: Any, optimizer: torch.optim.Optimizer | None = None,
                     config: RunConfig | None = None) -> bytes:
    """State dicts and the config only, so `torch.load(..., weights_only=True)` reads it safely.

    `source` is a Trainer, a Built (from `build`), or a model with `optimizer` and `config` given.
    """
    model, optimizer, config = _checkpoint_parts(source, optimizer, config)
    buf = io.BytesIO()
    torch.save({"model": model.state_dict(),
                "optimizer": optimizer.state_dict() if optimizer is not None else None,
                "config": config.to_dict() if config is not None else None}, buf)
    return buf.getvalue()


def _checkpoint_parts(source: Any, optimizer: Any, config: Any) -> tuple[nn.Module, Any, Any]:
    """Unpack a Trainer (`.b`, `.cfg`), a Built (`.model`, `.optimizer`, `.config`) or a model."""
    built = getattr(source, "b", source)
    if isinstance(built, ingredients.Built):
        return built.model, optimizer or built.optimizer, config or built.config
    if isinstance(source, nn.Module):
        return source, optimizer, config
    raise TypeError(f"checkpoint_bytes needs a Trainer, a Built or an nn.Module, "
                    f"not {type(source).__name__}")

# The zip --------------------------------------------------------------------------------------
def bundle_zip(parts: Mapping[str, bytes]) -> bytes:
    """A deflated zip of name -> bytes with fixed timestamps (same parts, same bytes)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in parts.items():
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    return buf.getvalue()


def run_files(cfg: RunConfig, target: np.ndarray, rows: Rows,
              final: np.ndarray, frames: Frames = (), checkpoint: bytes | None = None,
              summary: Mapping[str, Any] | None = None) -> dict[str, bytes]:
    """Every download of one run by file name: what "Download all" zips."""
    frames = list(frames) or [(_last_step(rows), final)]
    parts = {
        "history.csv": history_csv(rows),
        "config.json": config_json(cfg),
        "final.png": sprite_png(final),
        "final_x8.png": sprite_png(final, 8),
        "target.png": sprite_png(target),
        "forming.gif": animation_gif(frames, scale=min(16, max(2, 256 // final.shape[0]))),
    }
    if checkpoint is not None:
        parts["checkpoint.pt"] = checkpoint
    parts["train.py"] = train_script(cfg, target).encode("utf-8")
    parts["README.txt"] = readme_text(cfg, parts, summary).encode("utf-8")
    return parts


def run_bundle(cfg: RunConfig, target: np.ndarray, rows: Rows,
               final: np.ndarray, frames: Frames = (), checkpoint: bytes | None = None,
               summary: Mapping[str, Any] | None = None) -> bytes:
    """The "Download all" zip: history, config, pictures, animation, checkpoint, train.py, README."""
    return bundle_zip(run_files(cfg, target, rows, final, frames, checkpoint, summary))


def _last_step(rows: Rows) -> int:
    """The step of the newest history row (0 before any step)."""
    return int(rows["step"][len(rows) - 1]) if len(rows) else 0


_FILE_NOTES = {
    "history.csv": "one row per optimizer step: step, epoch, loss, lr, grad_norm, update_ratio "
                   "(every 10th step), seconds",
    "config.json": "every setting of the run; `python -m playground train --config config.json` "
                   "re-runs it",
    "final.png": "the learned sprite at its exact pixels",
    "final_x8.png": "the same, 8x larger (nearest neighbour, no blur)",
    "target.png": "the sprite the model was trained to reproduce",
    "forming.gif": "the sprite forming during training (steps in the caption)",
    "checkpoint.pt": "model and optimizer state dicts plus the config; load with "
                     "torch.load('checkpoint.pt', weights_only=True)",
    "train.py": "the same run as a standalone plain-PyTorch script (see below)",
}


def readme_text(cfg: RunConfig, parts: Mapping[str, bytes],
                summary: Mapping[str, Any] | None = None) -> str:
    """README.txt of the zip: what each file is and how to run train.py."""
    lines = ["Pixel Playground run", "====================", "",
             f"model={cfg.model} loss={cfg.loss} optimizer={cfg.optimizer} lr={cfg.lr:g} "
             f"schedule={cfg.schedule} epochs={cfg.epochs} seed={cfg.seed} size={cfg.size}"]
    if summary:
        lines.append(", ".join(f"{k}: {v}" for k, v in summary.items() if v not in (None, "")))
    lines += ["", "Files", "-----"]
    lines += [f"{name:<14} {_FILE_NOTES.get(name, '')}" for name in parts if name in _FILE_NOTES]
    if "checkpoint.pt" not in parts:
        lines.append("(no checkpoint.pt: a checkpoint is taken only while the run is not training)")
    lines += ["", "Running train.py", "----------------",
              "    pip install torch tqdm        # tqdm is optional",
              "    python train.py               # the whole run",
              "    python train.py --steps 100   # only the first 100 optimizer steps",
              "",
              "It needs only PyTorch, prints the loss as it goes and writes losses.csv and final.png.",
              "Same seed, same data order, same optimizer and schedule: on the same kind of machine",
              "its losses match history.csv step for step (learning-rate changes made by hand",
              "during the run are not replayed).", ""]
    return "\n".join(lines)

