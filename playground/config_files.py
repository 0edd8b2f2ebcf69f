"""Config files as people write them: JSON or YAML (PyYAML's safe loader: plain data only, never
objects), flat (`lr: 0.01`, the keys of RunConfig and share links) or in the nested shape of the
course's train.py (`training: {batch_size, epochs, learning_rate, weight_decay, scheduler}`),
which is translated to the flat keys. Anything else nested is refused with the flat keys to use."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from playground.config import FIELDS, ConfigError, RunConfig

# The seed scripts' nested sections: section -> {their key: our flat key}.
NESTED: dict[str, dict[str, str]] = {
    "training": {"batch_size": "batch_size", "epochs": "epochs", "learning_rate": "lr",
                 "lr": "lr", "weight_decay": "weight_decay", "scheduler": "schedule",
                 "optimizer": "optimizer", "momentum": "momentum", "seed": "seed",
                 "patience": "patience", "early_stopping_patience": "patience",
                 "clip_grad_norm": "clip_grad_norm", "gradient_clip": "clip_grad_norm",
                 "monitor": "monitor", "device": "device"},
    "model": {"name": "model", "type": "model", "hidden": "hidden", "hidden_size": "hidden",
              "depth": "depth", "num_layers": "depth", "dropout": "dropout",
              "activation": "activation"},
    "data": {"task": "task", "sprite": "sprite", "size": "size", "classes": "classes",
             "num_classes": "classes", "samples": "samples", "noise": "noise",
             "val_split": "val_split", "validation_split": "val_split",
             "test_split": "test_split"},
}
# A scheduler given as a mapping (`{type: step, step_size: 30, gamma: 0.1}`): its keys.
SCHEDULER_KEYS = {"type": "schedule", "name": "schedule", "step_size": "step_size",
                  "gamma": "gamma", "warmup": "warmup", "warmup_steps": "warmup",
                  "min_lr": "min_lr", "eta_min": "min_lr", "patience": "patience"}


def read_config(path: Path) -> RunConfig:
    """A validated config from a .json, .yaml or .yml file."""
    return read_config_file(path)[0]


def read_config_file(path: Path) -> tuple[RunConfig, str | None]:
    """A validated config, and the `device` the file asks for (a machine's setting, not the
    run's: a share link never carries it), from a .json, .yaml or .yml file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    data = parse_yaml(text) if path.suffix.lower() in (".yaml", ".yml") else parse_json(text)
    flat = flatten(data)
    device = flat.pop("device", None)
    return RunConfig.from_dict(flat), None if device is None else str(device)


def parse_json(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"config file is not valid JSON: {exc}") from None
    return _mapping(data, "a JSON object")


def parse_yaml(text: str) -> dict[str, Any]:
    """YAML through the safe loader: tags that would build Python objects are refused."""
    import yaml  # the CLI's dependency only; the page never reads YAML

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file is not valid YAML: {' '.join(str(exc).split())}") from None
    return _mapping(data or {}, "a YAML mapping")


def _mapping(data: object, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ConfigError(f"config file must hold {what} of settings")
    return data


def flatten(data: Mapping[str, Any]) -> dict[str, Any]:
    """The seed's nested sections translated to flat keys; flat keys pass through unchanged."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if key in NESTED and isinstance(value, Mapping):
            _merge(flat, _section(key, value))
        elif isinstance(value, Mapping):
            raise ConfigError(f"unknown section '{key}'; use flat keys ({', '.join(FIELDS)}) or "
                              f"the sections {', '.join(NESTED)}")
        else:
            _merge(flat, {key: value})
    return flat  # may hold "device", which read_config_file takes out


def _section(name: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """One nested section as flat keys; an unknown key names the flat key to use instead."""
    known, out = NESTED[name], {}
    for key, value in values.items():
        if name == "training" and key == "scheduler" and isinstance(value, Mapping):
            out.update(_scheduler(value))
        elif key in known:
            out[known[key]] = value
        else:
            raise ConfigError(f"'{name}.{key}' is not understood; the flat keys are "
                              f"{', '.join(FIELDS)} (e.g. {name}.learning_rate is lr)")
    return out


def _scheduler(values: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in values.items():
        if key not in SCHEDULER_KEYS:
            raise ConfigError(f"'training.scheduler.{key}' is not understood; a scheduler takes "
                              f"{', '.join(sorted(SCHEDULER_KEYS))}")
        out[SCHEDULER_KEYS[key]] = value
    return out


def _merge(into: dict[str, Any], new: Mapping[str, Any]) -> None:
    """Add keys, refusing one setting given twice with two values (e.g. lr and learning_rate)."""
    for key, value in new.items():
        if key in into and into[key] != value:
            raise ConfigError(f"'{key}' is given twice ({into[key]!r} and {value!r})")
        into[key] = value
