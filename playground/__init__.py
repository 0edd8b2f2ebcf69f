"""Pixel Playground: watch PyTorch optimizers learn a pixel-art sprite.

    from playground import RunConfig, train
    result = train(RunConfig(sprite="heart", optimizer="adam", lr=0.01))

The names below load on first use, so a module that needs no torch (the charts, the config, the
history) can be imported without paying for it.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ConfigError": "playground.config", "RunConfig": "playground.config",
    "Trainer": "playground.engine", "TrainResult": "playground.engine", "build": "playground.engine",
    "configure_torch": "playground.warmup", "train": "playground.engine",
    "lr_at": "playground.schedules",
    "SPRITES": "playground.sprites", "SpriteError": "playground.sprites",
    "load_sprite": "playground.sprites",
}
__all__ = sorted(_EXPORTS)
__version__ = "0.2.0"


def __getattr__(name: str) -> Any:
    """Import an exported name's module on first use (PEP 562)."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'playground' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
