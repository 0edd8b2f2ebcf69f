"""Helpers every generated train.py carries, copied in verbatim (see copied_code.helpers_code):
reading `--config FILE` over the script's settings, and progress output that never garbles.

They are real functions here so the tests can call them; in a script they see only the standard
library (PyYAML and tqdm when installed).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def read_settings(path: Path) -> dict[str, Any]:
    """A settings file as a dict: JSON, or YAML (.yaml/.yml) when PyYAML is installed; any
    problem ends the script with one line saying what is wrong."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise SystemExit(f"--config {path}: cannot read it: {exc.strerror}") from None
    if Path(path).suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise SystemExit(f"--config {path}: YAML needs PyYAML (pip install pyyaml); "
                             "or write the settings as JSON") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise SystemExit(f"--config {path}: not valid YAML: {' '.join(str(exc).split())}") from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SystemExit(f"--config {path}: not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise SystemExit(f'--config {path}: expected flat settings like {{"lr": 0.01, "epochs": 50}}')
    return data


def overridden(config: dict[str, Any], fixed: dict[str, Any], ignored: tuple[str, ...],
               changes: dict[str, Any], source: object) -> dict[str, Any]:
    """CONFIG with a settings file's changes (flat keys, as in the app's config.json). A setting
    baked into the code may be repeated but not changed; an unknown key or a value of the wrong
    type ends the script with one line naming it."""
    out = dict(config)
    for key, value in changes.items():
        if key in fixed:
            if same_setting(value, fixed[key]):
                continue
            raise SystemExit(f"--config {source}: {key} is fixed in this train.py (generated for "
                             f"{key}={fixed[key]!r}); change it in the app and export train.py again")
        if key in ignored:
            continue
        if key not in config:
            raise SystemExit(f"--config {source}: unknown setting {key!r}; this script reads "
                             f"{', '.join(config)}")
        out[key] = checked_setting(key, value, config[key], source)
    return out


def same_setting(value: Any, current: Any) -> bool:
    """Whether a file repeats a setting: equal, a JSON list matching a tuple (betas)."""
    if isinstance(current, tuple):
        return isinstance(value, list | tuple) and list(value) == list(current)
    if isinstance(value, bool) or isinstance(current, bool):
        return value is current
    if isinstance(current, float) and isinstance(value, int):
        return value == current
    return type(value) is type(current) and value == current


def checked_setting(key: str, value: Any, current: Any, source: object) -> Any:
    """The new value in the type of the current one (an int may stand for a float, a list for a
    tuple); anything else is refused in one line."""
    def fail() -> SystemExit:
        return SystemExit(f"--config {source}: {key}={value!r} should be a "
                          f"{type(current).__name__} like {current!r}")

    if isinstance(current, bool) or isinstance(value, bool):
        if type(value) is not type(current):
            raise fail()
        return value
    if isinstance(current, float) and isinstance(value, int | float):
        return float(value)
    if isinstance(current, tuple):
        if not isinstance(value, list | tuple) or len(value) != len(current):
            raise fail()
        return tuple(checked_setting(key, v, c, source) for v, c in zip(value, current, strict=True))
    if type(value) is not type(current):
        raise fail()
    return value


class PlainProgress:
    """Stands in for tqdm (not installed, or no terminal to draw on): the lines are the progress."""

    def __init__(self, total: int) -> None:
        self.total = total

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, **values: object) -> None:
        pass

    def write(self, text: str) -> None:
        print(text, flush=True)

    def close(self) -> None:
        pass


def progress_bar(total: int) -> Any:
    """A tqdm bar when tqdm is installed and stderr is a terminal, else plain printed lines: a bar
    redrawn into a pipe or a log file would split the printed lines with its fragments. Print
    through the bar's `write` (tqdm.write), which lifts the bar off the line first."""
    try:
        from tqdm import tqdm
    except ImportError:
        return PlainProgress(total)
    if not sys.stderr.isatty():
        return PlainProgress(total)
    return tqdm(total=total, unit="step", dynamic_ncols=True)
