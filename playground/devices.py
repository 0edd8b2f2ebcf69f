"""Where a run trains, as the course's scripts choose it: `--device auto` takes a CUDA GPU, else
Apple's MPS, else the CPU. The engine moves the model and the data with `.to(device)`; the app's
workers stay on the CPU (tiny models, many sessions), so a share link replays the same numbers.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from playground.config import ConfigError
from playground.ingredients import Built, Loader

DEVICES = {
    "auto": "a CUDA GPU if there is one, else Apple's MPS, else the CPU",
    "cpu": "the processor (every machine has it)",
    "cuda": "an NVIDIA GPU through CUDA",
    "mps": "an Apple-silicon GPU through Metal",
}


def _has(kind: str) -> bool:
    """Whether this machine and this torch build can use the device kind."""
    if kind == "cuda":
        return torch.cuda.is_available()
    if kind == "mps":
        return bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    return kind == "cpu"


def resolve(name: str) -> torch.device:
    """The torch.device for a device name; one sentence when the machine lacks it."""
    kind = name.split(":", 1)[0]
    if kind not in DEVICES:
        raise ConfigError(f"device: {name!r} is not allowed; expected one of {', '.join(DEVICES)}")
    if kind == "auto":
        return torch.device(next(k for k in ("cuda", "mps", "cpu") if _has(k)))
    if not _has(kind):
        build = "a CPU-only build" if torch.version.cuda is None else f"CUDA {torch.version.cuda}"
        raise ConfigError(f"device: this machine has no {kind} device (torch {torch.__version__}, "
                          f"{build}); use --device cpu, or auto to take the best there is")
    return torch.device(name)


def move(built: Built, device: torch.device) -> Built:
    """The run's ingredients on `device`: the model (its parameters keep their identity, so the
    optimizer follows), a small loader's whole data once, and the target. A torch DataLoader's
    batches are moved one by one as they come, the textbook way (see Trainer.step)."""
    if device == built.device:
        return built
    built.model.to(device)
    if isinstance(built.loader, Loader):
        built.loader.inputs = built.loader.inputs.to(device)
        built.loader.targets = built.loader.targets.to(device)
    target = built.target.to(device) if built.target is not None else None
    return replace(built, target=target, device=device)
