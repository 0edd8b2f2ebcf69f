"""What a command-line run writes into its folder, and what it watches while it trains.

`Watch` sees every step (TensorBoard events written live, the GIF's frames, the optimizer state at
a validated run's best epoch); `write_run` leaves the folder a learner expects from the course's
scripts: config, history, summary, final.pt (resumable), best.pt, training_history.png, pictures.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from playground import checkpoints, export, sprites
from playground.engine import Trainer, TrainResult
from playground.export.gif import animation_gif
from playground.export.history_plot import history_png
from playground.export.path_plot import path_csv, path_png
from playground.results import validation_text
from playground.serve.film import GIF_STEPS


class Watch:
    """Per-step side work of a CLI run: live TensorBoard, GIF frames, the best epoch's optimizer."""

    def __init__(self, trainer: Trainer, tensorboard: Path | None = None,
                 frames: checkpoints.Frames = ()) -> None:
        self.trainer = trainer
        self.frames: list[tuple[int, np.ndarray]] = list(frames)
        self.best_optimizer: dict[str, Any] | None = None
        self._best_epoch = trainer.best_epoch
        self.logger = None
        if tensorboard is not None:
            self.logger = export.TensorBoardLogger(tensorboard, trainer.columns,
                                                   trainer.cfg.total_steps, trainer.cfg.epochs)
            self.logger.text("config", f"```\n{trainer.cfg.to_json()}\n```")
        if trainer.b.target is not None and trainer.step_count == 0:
            self.frames.append((0, trainer.image()))

    def seen(self, row: Any) -> None:
        """After each step: log it, keep a frame at log-spaced steps, note a new best epoch."""
        t = self.trainer
        if self.logger is not None:
            self.logger.log(row)
        if t.b.target is not None and (row.step in GIF_STEPS or t.done):
            self.frames.append((int(row.step), t.image()))
        if t.best_epoch != self._best_epoch:  # validated runs: their best weights are current now
            self._best_epoch = t.best_epoch
            self.best_optimizer = copy.deepcopy(t.b.optimizer.state_dict())

    def close(self) -> Path | None:
        """Finish the TensorBoard file (with why the run ended); its path, if one was written."""
        if self.logger is None:
            return None
        if self.trainer.reason:
            self.logger.text("ended", self.trainer.reason)
        return self.logger.close()


def save_initial(path: Path, trainer: Trainer) -> None:
    """The weights before any step: state dicts and the config, readable with weights_only=True."""
    torch.save({"model": trainer.b.model.state_dict(), "optimizer": trainer.b.optimizer.state_dict(),
                "config": trainer.cfg.to_dict()}, path)


def write_run(out: Path, result: TrainResult, trainer: Trainer, watch: Watch | None = None) -> None:
    """config.json, history.csv, summary.json, final.pt, best.pt, training_history.png, and the
    lesson's pictures (a sprite's PNGs, GIF and train.py; a confusion matrix; a fitted line)."""
    (out / "config.json").write_text(result.config.to_json() + "\n")
    result.history.to_csv(out / "history.csv", index=False)
    (out / "summary.json").write_text(json.dumps(result.summary(), indent=2) + "\n")
    checkpoints.save(out / "final.pt",
                     checkpoints.final_checkpoint(trainer, watch.frames if watch else ()))
    best = checkpoints.best_checkpoint(trainer, watch.best_optimizer if watch else None)
    if best is not None:
        checkpoints.save(out / "best.pt", best)
    if len(result.rows):
        (out / "training_history.png").write_bytes(history_png(result.rows, trainer.events))
    if trainer.b.target is None:
        write_lesson_view(out, trainer)
        (out / "train.py").write_text(export.train_script(result.config))
        return
    target = sprites.from_tensor(trainer.b.target)
    (out / "target.png").write_bytes(sprites.to_png_bytes(target))
    (out / "final.png").write_bytes(sprites.to_png_bytes(result.image))
    factor = max(1, 256 // target.shape[0])
    pair = np.concatenate([sprites.upscale(target, factor), sprites.upscale(result.image, factor)],
                          axis=1)
    (out / "preview.png").write_bytes(sprites.to_png_bytes(pair))
    frames = (watch.frames if watch else []) or [(result.steps, result.image)]
    (out / "forming.gif").write_bytes(animation_gif(frames, scale=min(16, max(2, factor))))
    (out / "train.py").write_text(export.train_script(result.config, target))


def write_lesson_view(out: Path, trainer: Trainer) -> None:
    """What the lessons show besides curves: a confusion matrix, a fitted line, a path on a map."""
    view = trainer.view()
    if "confusion" in view:
        names = view["classes"]
        rows = [",".join(["truth\\predicted", *names])]
        rows += [",".join([name, *map(str, r)]) for name, r in zip(names, view["confusion"],
                                                                   strict=True)]
        (out / "confusion.csv").write_text("\n".join(rows) + "\n")
    if "x" in trainer.columns:  # the paths lesson: where the point went, and the map
        history = trainer.rows.table().frame()
        (out / "path.csv").write_text(path_csv(history))
        (out / "path.png").write_bytes(path_png(trainer.cfg, {trainer.cfg.optimizer: history}))
    if "slope" in view:
        line = {k: view[k] for k in ("slope", "intercept", "weight", "bias", "closed_form")}
        (out / "line.json").write_text(json.dumps(line, indent=2) + "\n")


def final_line(result: TrainResult, out: Path) -> str:
    """The CLI's last line: how the run ended and where its files are."""
    s = result.summary()
    return (f"{s['status']}: {s['steps']} steps, final loss {s['final_loss']}"
            f"{validation_text(s)}, {s['steps_per_second']} steps/s -> {out}")


def note(text: str) -> None:
    """A line for the person at the terminal (stderr, so stdout stays for data)."""
    print(text, file=sys.stderr)
