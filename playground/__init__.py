"""Pixel Playground: watch PyTorch optimizers learn a pixel-art sprite.

    from playground import RunConfig, train
    result = train(RunConfig(sprite="heart", optimizer="adam", lr=0.01))
"""

from playground.config import ConfigError, RunConfig
from playground.engine import Trainer, TrainResult, build, configure_torch, train
from playground.schedules import lr_at
from playground.sprites import SPRITES, SpriteError, load_sprite

__all__ = ["SPRITES", "ConfigError", "RunConfig", "SpriteError", "TrainResult", "Trainer", "build",
           "configure_torch", "load_sprite", "lr_at", "train"]
__version__ = "0.1.0"
