"""TensorBoard logs of a run's history, written only when the optional package is installed."""

from __future__ import annotations

import importlib.util
import tempfile
import uuid
from pathlib import Path

from playground.export.files import Rows, bundle_zip, history_frame

TENSORBOARD_HINT = ("TensorBoard logs need the optional `tensorboard` package: "
                    "`pip install tensorboard`, then unzip and run `tensorboard --logdir <folder>`.")


def tensorboard_available() -> bool:
    """Whether the optional `tensorboard` package is installed (checked without importing it)."""
    try:
        return importlib.util.find_spec("tensorboard") is not None
    except (ImportError, ValueError):
        return False


def tensorboard_log(rows: Rows, directory: str | Path) -> Path | None:
    """Write loss, lr and grad_norm per step as a TensorBoard event file; None without tensorboard."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    df = history_frame(rows)
    suffix = f".{uuid.uuid4().hex[:8]}"
    writer = SummaryWriter(log_dir=str(directory), filename_suffix=suffix)
    try:
        for step, loss, lr, grad_norm in df[["step", "loss", "lr", "grad_norm"]].itertuples(
                index=False):
            writer.add_scalar("loss", float(loss), int(step))
            writer.add_scalar("lr", float(lr), int(step))
            writer.add_scalar("grad_norm", float(grad_norm), int(step))
    finally:
        writer.close()
    return next(Path(directory).glob(f"events.out.tfevents.*{suffix}"))


def tensorboard_zip(rows: Rows, run_name: str = "run") -> bytes | None:
    """The TensorBoard log as a zip holding `<run_name>/events...`; None without tensorboard."""
    with tempfile.TemporaryDirectory() as tmp:
        path = tensorboard_log(rows, Path(tmp) / run_name)
        if path is None:
            return None
        return bundle_zip({f"{run_name}/{path.name}": path.read_bytes()})
