"""TensorBoard logs of a run: written live by the CLI (`--tensorboard DIR`), or from a finished
history by the app's download. Needs the optional `tensorboard` package (in the dev requirements
and the package's `tensorboard` extra)."""

from __future__ import annotations

import importlib.util
import math
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from playground.export.files import Rows, bundle_zip, history_frame

TENSORBOARD_HINT = ("TensorBoard logs need the optional `tensorboard` package: "
                    "`pip install tensorboard`, then unzip and run `tensorboard --logdir <folder>`.")
KEEP = 1000  # points per chart: TensorBoard's default reservoir keeps 1,000 scalars per tag
STEP_TAGS = {"loss": "loss/train_step", "lr": "lr", "grad_norm": "grad_norm",
             "update_ratio": "update_ratio"}
EPOCH_TAGS = {"epoch_loss": "loss/train_epoch", "val_loss": "loss/validation",
              "train_accuracy": "accuracy/train", "val_accuracy": "accuracy/validation"}


def tensorboard_available() -> bool:
    """Whether the optional `tensorboard` package is installed (checked without importing it)."""
    try:
        return importlib.util.find_spec("tensorboard") is not None
    except (ImportError, ValueError):
        return False


class TensorBoardLogger:
    """Scalars of one run as TensorBoard events, row by row as training goes: the per-step values
    thinned to about KEEP points per chart (every row would only be sampled away by TensorBoard),
    and every epoch's validation metrics under loss/ and accuracy/ so train and validation share
    a chart."""

    def __init__(self, directory: str | Path, columns: Sequence[str], total_steps: int,
                 epochs: int, flush_secs: int = 2) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise RuntimeError(TENSORBOARD_HINT) from None
        self.suffix = f".{uuid.uuid4().hex[:8]}"
        self.directory = Path(directory)
        self.writer = SummaryWriter(log_dir=str(directory), filename_suffix=self.suffix,
                                    flush_secs=flush_secs)
        self.columns = tuple(columns)
        self.step_every = max(1, math.ceil(total_steps / KEEP))
        self.epoch_every = max(1, math.ceil(epochs / KEEP))
        self.total_steps = total_steps

    def log(self, row: Sequence[float]) -> None:
        """One history row (in the run's column order)."""
        values = dict(zip(self.columns, row, strict=True))
        step = int(values["step"])
        if step % self.step_every == 0 or step == 1 or step >= self.total_steps:
            self._scalars(STEP_TAGS, values, step)
        epoch = values.get("epoch", 0)
        if any(math.isfinite(values.get(c, math.nan)) for c in EPOCH_TAGS) and (
                epoch % self.epoch_every == 0 or step >= self.total_steps):
            self._scalars(EPOCH_TAGS, values, step)

    def _scalars(self, tags: dict[str, str], values: dict[str, float], step: int) -> None:
        for column, tag in tags.items():
            value = values.get(column, math.nan)
            if math.isfinite(value):
                self.writer.add_scalar(tag, value, step)

    def text(self, tag: str, text: str) -> None:
        """A note beside the charts (the run's config, why it ended)."""
        self.writer.add_text(tag, text)

    def close(self) -> Path:
        """Flush and close; the event file written."""
        self.writer.close()
        return next(self.directory.glob(f"events.out.tfevents.*{self.suffix}"))

    def __enter__(self) -> TensorBoardLogger:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.writer.close()


def tensorboard_log(rows: Rows, directory: str | Path) -> Path | None:
    """A finished history as a TensorBoard event file; None without tensorboard."""
    df = history_frame(rows)
    epochs = int(df["epoch"].max()) if len(df) else 1
    try:
        logger = TensorBoardLogger(directory, tuple(df.columns), len(df), max(1, epochs))
    except RuntimeError:  # the package is missing
        return None
    for row in df.itertuples(index=False):
        logger.log(row)
    return logger.close()


def tensorboard_zip(rows: Rows, run_name: str = "run") -> bytes | None:
    """The TensorBoard log as a zip holding `<run_name>/events...`; None without tensorboard."""
    with tempfile.TemporaryDirectory() as tmp:
        path = tensorboard_log(rows, Path(tmp) / run_name)
        if path is None:
            return None
        return bundle_zip({f"{run_name}/{path.name}": path.read_bytes()})
