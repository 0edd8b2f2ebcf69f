"""The text form of settings: `coerce` turns a CLI, URL or JSON value into a field's type,
`format_value` writes it back, and `parse_assignments` reads `--set key=value` lists.

Moved out of config.py (which re-exports them) to keep that module readable; the field table and
its error messages stay in config.py, read through the module when first needed (config.py
imports this module at its top, so this one cannot import config.py at its own).
"""

from __future__ import annotations

import math
from typing import Any

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def coerce(key: str, value: Any) -> Any:
    """Turn a string (CLI, URL) or JSON value into the field's type; never evaluates code."""
    from playground import config  # imported here: config imports this module at its top
    if key not in config.FIELDS:
        raise config.ConfigError(f"unknown setting {config._short(key)}; known: "
                                 f"{', '.join(config.FIELDS)}")
    f = config.FIELDS[key]
    bad = config.ConfigError(f"{key}: {config._short(value)} is not allowed; "
                             f"expected {config._allowed(f)}")
    if key == "betas":
        parts = value.split(",") if isinstance(value, str) else value
        if not isinstance(parts, list | tuple) or len(parts) != 2:
            raise bad
        try:
            return tuple(float(p) for p in parts)
        except (TypeError, ValueError):
            raise bad from None
    kind = config._kind(f)
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


def parse_assignments(items: list[str]) -> dict[str, Any]:
    """Parse CLI `key=value` strings into typed values."""
    from playground import config
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise config.ConfigError(f"--set {config._short(item)}: expected key=value")
        out[key.strip()] = coerce(key.strip(), value)
    return out
