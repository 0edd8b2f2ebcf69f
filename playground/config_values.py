"""How one setting's value is checked, parsed and written: the range and choice checks, the
string coercion the CLI and share links use, and the messages that name what is allowed.

Kept apart from `config.py` so the dataclass holds only the settings; everything here works on a
single dataclass field and its metadata, so it needs nothing from `RunConfig` itself.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

MAX_CODE = 20000  # characters of a custom sprite code (a 64x64 sprite fits)
LONG_TEXT = ("pixels", "houses")  # free-text fields allowed up to MAX_CODE characters
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class ConfigError(ValueError):
    """A setting is unknown or out of range; the message names the field, the value and what is allowed."""


def choices(kind: str) -> tuple[str, ...]:
    """Registry keys, looked up on first use: the registries bring torch, which importing the
    config does not need (they import the config only for type hints, so no cycle)."""
    from playground import bugs, losses, models, optim, schedules, sprites, surfaces, tasks

    table = {
        "bug": {"none": None, **bugs.BUGS},
        "task": tasks.TASKS,
        "model": tasks.model_names(),
        "loss": tasks.loss_names(),
        "optimizer": optim.OPTIMIZERS,
        "schedule": schedules.SCHEDULES,
        "sprite": {**sprites.SPRITES, "custom": None},
        "activation": models.ACTIVATIONS,
        "reduction": losses.REDUCTIONS,
        "monitor": {"loss": None, "accuracy": None},
        "surface": surfaces.SURFACES,
    }
    return tuple(table[kind])


def short(value: Any) -> str:
    """Quote a user value without letting a 10 KB string into a message."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "...'"


def allowed(f: dataclasses.Field) -> str:
    """Human description of what a field accepts."""
    m = f.metadata
    if m["choices"]:
        return "one of " + ", ".join(choices(m["choices"]))
    if f.type in ("bool", bool):
        return "true or false"
    if f.name == "betas":
        return f"two numbers from {m['min']} to {m['max']}, e.g. 0.9,0.999"
    if m["min"] is not None:
        return f"{m['min']:g} to {m['max']:g}"
    return "text"


def check_value(f: dataclasses.Field, value: Any) -> None:
    """Raise ConfigError unless value is within the field's type, choices and range."""
    if not _valid(f, value):
        raise ConfigError(f"{f.name}: {short(value)} is not allowed; expected {allowed(f)}")
    if f.name in LONG_TEXT and len(value) > MAX_CODE:
        raise ConfigError(f"{f.name}: {len(value)} characters; at most {MAX_CODE}")


def _valid(f: dataclasses.Field, value: Any) -> bool:
    """Whether value has the field's type and lies within its choices or range."""
    m = f.metadata
    if m["choices"]:
        return isinstance(value, str) and value in choices(m["choices"])
    if f.name == "betas":
        return (isinstance(value, tuple) and len(value) == 2
                and all(_number_ok(v, m["min"], m["max"]) for v in value))
    kind = _kind(f)
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return (isinstance(value, int) and not isinstance(value, bool)
                and m["min"] <= value <= m["max"])
    if kind is float:
        return not isinstance(value, bool) and _number_ok(value, m["min"], m["max"])
    return isinstance(value, str)


def _number_ok(v: Any, lo: float, hi: float) -> bool:
    """A finite real number within [lo, hi]."""
    return isinstance(v, int | float) and math.isfinite(v) and lo <= v <= hi


def _kind(f: dataclasses.Field) -> type:
    """The Python type of a field (annotations are strings under `from __future__`)."""
    return {"int": int, "float": float, "bool": bool, "str": str}.get(str(f.type), object)


def coerce_field(f: dataclasses.Field, value: Any) -> Any:
    """Turn a string (CLI, URL) or JSON value into the field's type; never evaluates code."""
    bad = ConfigError(f"{f.name}: {short(value)} is not allowed; expected {allowed(f)}")
    if f.name == "betas":
        parts = value.split(",") if isinstance(value, str) else value
        if not isinstance(parts, list | tuple) or len(parts) != 2:
            raise bad
        try:
            return tuple(float(p) for p in parts)
        except (TypeError, ValueError):
            raise bad from None
    kind = _kind(f)
    if not isinstance(value, str):
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        return value
    text = value.strip()
    try:
        if kind is bool:
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise bad
        if kind is int:
            number = float(text)
            if not math.isfinite(number) or number != int(number):
                raise bad
            return int(number)
        if kind is float:
            return float(text)
    except ValueError:
        raise bad from None
    return text


def format_value(value: Any) -> str:
    """Inverse of `coerce` for strings: the text form used in URLs and `--set`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(format_value(v) for v in value)
    if isinstance(value, float):
        return repr(value)
    return str(value)
