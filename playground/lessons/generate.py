"""The sprite lesson's ingredients: the target picture, the model and its batches (the whole sprite
for most models, sets of pixels for the coordinate MLP)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from playground import sprites
from playground.bugs.inject import apply
from playground.ingredients import Built, Loader
from playground.losses import make_criterion
from playground.models import MODELS, make_model
from playground.optim import make_optimizer
from playground.schedules import make_scheduler

if TYPE_CHECKING:
    from playground.config import RunConfig


def target_array(cfg: RunConfig) -> np.ndarray:
    """The sprite the config names, as uint8 (size, size, 4)."""
    source = cfg.pixels if cfg.sprite == "custom" else cfg.sprite
    return sprites.load_sprite(source, cfg.size)


def build_generate(cfg: RunConfig, target: np.ndarray | None = None) -> Built:
    """Model, batches, loss, optimizer and schedule for learning one sprite, seeded by cfg.seed."""
    image = sprites.to_tensor(target_array(cfg) if target is None else target)
    model = make_model(cfg)
    inputs, targets = model.examples(image)
    loader = Loader(inputs, targets, cfg.batch_size, cfg.seed + 3)
    optimizer = make_optimizer(model.parameters(), cfg)
    criterion = make_criterion(cfg.loss, cfg.reduction, MODELS[cfg.model].example_dims)
    return apply(cfg, Built(cfg, model, loader, criterion, optimizer, make_scheduler(optimizer, cfg),
                            image))
