"""Downloads of a run as bytes: CSV, JSON, PNG, GIF, checkpoint, TensorBoard log, train.py, one zip.

The names the app, the CLI and the tests use; each lives in the submodule that makes it.
"""

from playground.export.files import (
    bundle_zip,
    checkpoint_bytes,
    config_json,
    history_csv,
    run_bundle,
    run_files,
    sprite_png,
)
from playground.export.gif import GIF_MAX_FRAMES, animation_gif
from playground.export.script import train_script
from playground.export.tensorboard import (
    TENSORBOARD_HINT,
    TensorBoardLogger,
    tensorboard_available,
    tensorboard_log,
    tensorboard_zip,
)

__all__ = ["GIF_MAX_FRAMES", "TENSORBOARD_HINT", "TensorBoardLogger", "animation_gif", "bundle_zip",
           "checkpoint_bytes",
           "config_json", "history_csv", "run_bundle", "run_files", "sprite_png",
           "tensorboard_available", "tensorboard_log", "tensorboard_zip", "train_script"]
