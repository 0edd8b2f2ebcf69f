"""How a process that trains sets torch up: one thread per training, no subnormal floats, and
torch's one-off lazy imports paid before a user clicks (the app's server and every worker)."""

from __future__ import annotations

import time

import torch

from playground.config import RunConfig
from playground.engine import train


def configure_torch(threads: int = 1) -> None:
    """Tiny models run best on one thread per training; subnormal floats only slow Adam down."""
    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)


def warm_up() -> float:
    """Pay torch's one-off lazy imports (~2 s on the first optimizer step) before a user clicks."""
    from playground.models import MODELS
    from playground.optim import OPTIMIZERS

    t0 = time.perf_counter()
    train(RunConfig(epochs=3))  # the default run first: a user's first Start needs only this
    for model in MODELS:
        train(RunConfig(model=model, epochs=2, size=8, batch_size=64))
    for optimizer in OPTIMIZERS:
        train(RunConfig(optimizer=optimizer, epochs=2, size=8))
    return time.perf_counter() - t0
