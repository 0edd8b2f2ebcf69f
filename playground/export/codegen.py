"""Writing Python source: `$name` placeholders filled in one pass, and values as literals.

Placeholders follow string.Template's spelling (`$name`, or `${name}` before a letter). One that
stands alone on its line is a block: each line of its value gets that line's indentation, and an
empty value drops the line. Values are inserted as text, never evaluated and never scanned again,
so a `$` inside a value stays as it is.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from importlib import resources
from typing import Any

_PLACEHOLDER = re.compile(r"^(?P<pad>[ ]*)\$(?P<block>[A-Za-z_]\w*)[ ]*\n"
                          r"|\$\{(?P<braced>[A-Za-z_]\w*)\}"
                          r"|\$(?P<named>[A-Za-z_]\w*)"
                          r"|(?P<stray>\$)", flags=re.M)


def placeholders(template: str) -> set[str]:
    """Every placeholder name in a template, so a caller can check it fills them all."""
    return {_name(match) for match in _PLACEHOLDER.finditer(template)}


def fill(template: str, values: Mapping[str, str]) -> str:
    """The template with its placeholders replaced; a missing or unused value is an error."""
    names = placeholders(template)
    if names != set(values):
        raise KeyError(f"placeholders without a value: {sorted(names - set(values))}; "
                       f"values without a placeholder: {sorted(set(values) - names)}")
    return _PLACEHOLDER.sub(lambda match: _replacement(match, values), template)


def _name(match: re.Match[str]) -> str:
    """The placeholder's name; a lone `$` is refused so a typo cannot pass silently."""
    if match["stray"] is not None:
        line = match.string.count("\n", 0, match.start()) + 1
        raise ValueError(f"a '$' that is not a placeholder on template line {line}")
    return match["block"] or match["braced"] or match["named"]


def _replacement(match: re.Match[str], values: Mapping[str, str]) -> str:
    """A block's value indented like its line (or nothing), an inline value as it is."""
    value = values[_name(match)]
    if match["block"] is None:
        return value
    if not value:
        return ""
    lines = value.split("\n")
    if lines[-1] == "":
        lines.pop()
    pad = match["pad"]
    return "".join(f"{pad}{line}\n" if line else "\n" for line in lines)


def literal(value: Any) -> str:
    """Python source for a setting, with double-quoted strings like the rest of the script."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, tuple):
        return "(" + ", ".join(map(literal, value)) + ")"
    return repr(value)


@functools.cache
def read_template(name: str) -> str:
    """A template file beside this module (playground/export/*.tmpl), read once: a script's fixed code."""
    return resources.files("playground.export").joinpath(name).read_text(encoding="utf-8")
