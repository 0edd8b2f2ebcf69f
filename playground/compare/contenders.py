"""Who races: 2 to 8 contenders that share a task (sprite, model, seed, epochs and batches) and differ
only in how they learn; their short names; and the CLI's `--vary key=v1,v2` product of settings."""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import product
from typing import Any

from playground.config import FIELDS, ConfigError, RunConfig, coerce, format_value
from playground.optim import OPTIMIZERS
from playground.schedules import SCHEDULES

MIN_CONTENDERS, MAX_CONTENDERS = 2, 8
# What every contender must share: the task, the model and the batches (epochs, batch size, seed).
SHARED = ("task", "sprite", "pixels", "size", "classes", "samples", "noise", "val_split", "dropout",
          "test_split", "normalize", "houses", "model", "hidden", "depth", "activation", "fourier",
          "fourier_scale", "latent", "seed", "epochs", "batch_size", "bug", "surface", "condition",
          "rotation", "start_x", "start_y", "grad_noise")
# What contenders may differ in: how they learn, and their own stopping rules.
VARYING = ("loss", "reduction", "optimizer", "lr", "momentum", "nesterov", "betas", "weight_decay",
           "alpha", "eps", "history_size", "max_iter", "schedule", "step_size", "gamma", "warmup",
           "min_lr", "clip_grad_norm", "patience", "min_delta", "monitor")
# How the app plays a run, not what it learns: ignored by races (they run at full speed).
PLAYBACK = ("pace",)
_NAMED = ("optimizer", "loss", "schedule")  # shown bare in names ("adam"), others as key=value


def validate(configs: Sequence[RunConfig]) -> None:
    """Raise ConfigError unless 2-8 configs share the task and differ only in how they learn."""
    if not MIN_CONTENDERS <= len(configs) <= MAX_CONTENDERS:
        raise ConfigError(f"race: {MIN_CONTENDERS} to {MAX_CONTENDERS} contenders, "
                          f"got {len(configs)}")
    if not all(isinstance(c, RunConfig) for c in configs):
        raise ConfigError("race: every contender must be a RunConfig")
    for key in SHARED:
        values = [getattr(c, key) for c in configs]
        if any(v != values[0] for v in values):
            shown = ", ".join(_show(v) for v in dict.fromkeys(values))
            raise ConfigError(f"race: contenders must share {key} (same task, model and batches); "
                              f"got {shown}")


def _show(value: Any) -> str:
    """A value for a message, cut short (a custom sprite code can be 20,000 characters)."""
    text = format_value(value)
    return text if len(text) <= 24 else text[:21] + "..."


def contender_names(configs: Sequence[RunConfig]) -> list[str]:
    """Short unique names from the settings that differ, e.g. 'adam lr=0.01'; each contender
    names only the settings its own optimizer and schedule read (no 'momentum' on Adam)."""
    varying = [k for k in FIELDS if k not in PLAYBACK
               and len({format_value(getattr(c, k)) for c in configs}) > 1]
    names = [" ".join(_label(k, getattr(c, k)) for k in varying if _reads(c, k)) or f"#{i + 1}"
             for i, c in enumerate(configs)]
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        seen[name] = seen.get(name, 0) + 1
        if names.count(name) > 1:
            names[i] = f"{name} #{seen[name]}"
    return names


def _reads(cfg: RunConfig, key: str) -> bool:
    """Whether this contender's optimizer and schedule read `key` (other settings always count)."""
    for registry, chosen in ((OPTIMIZERS, cfg.optimizer), (SCHEDULES, cfg.schedule)):
        if any(key in spec.uses for spec in registry.values()) and key not in registry[chosen].uses:
            return False
    return True


def _label(key: str, value: Any) -> str:
    return format_value(value) if key in _NAMED else f"{key}={format_value(value)}"


def parse_vary(items: Sequence[str]) -> dict[str, list[Any]]:
    """CLI `--vary key=v1,v2` (betas: `--vary betas=0.9,0.99;0.5,0.9`) into typed value lists."""
    out: dict[str, list[Any]] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not text.strip():
            raise ConfigError(f"--vary {_show(item)}: expected key=value1,value2,...")
        parts = text.split(";") if ";" in text or key == "betas" else text.split(",")
        out[key] = [coerce(key, p.strip()) for p in parts]
    return out


def variants(base: RunConfig, vary: dict[str, list[Any]]) -> list[RunConfig]:
    """The cartesian product of the varied values over a base config (validated as a race)."""
    keys = list(vary)
    count = math.prod(len(v) for v in vary.values())
    if count > MAX_CONTENDERS:
        raise ConfigError(f"race: --vary gives {count} contenders; at most {MAX_CONTENDERS}")
    configs = [base.replace(**dict(zip(keys, values, strict=True)))
               for values in product(*vary.values())]
    validate(configs)
    return configs


