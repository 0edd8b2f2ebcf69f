"""Putting a bug into an exported train.py: each edit changes the lines that hold a piece of the
correct code and marks each change with a `# BUG (name): ...` comment, so the script runs the
mistake exactly as the app ran it and says where it is."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass


class ScriptEditError(RuntimeError):
    """An edit found nothing to change: the template moved on and the bug would silently vanish."""


@dataclass(frozen=True)
class Edit:
    """Replace `old` in every line holding it by `new` (None: comment the line out), or with
    `after`, keep the line and add `new` below it; `new` may span lines (each gets the line's
    indentation); `note` becomes the BUG comment above the changed code."""

    old: str
    new: str | None
    note: str | None
    after: bool = False


def apply_edit(script: str, edit: Edit, name: str) -> str:
    """One edit over every line that holds its `old` text."""
    out, found = [], 0
    for line in script.split("\n"):
        if edit.old not in line:
            out.append(line)
            continue
        found += 1
        pad = line[:len(line) - len(line.lstrip())]
        if edit.after:
            out.append(line)
        out += _comment(pad, name, edit.note)
        if edit.new is None:
            out.append(f"{pad}# {line.lstrip()}")
            continue
        changed = edit.new if edit.after else line.replace(edit.old, edit.new).lstrip()
        out += [pad + part for part in changed.split("\n")]
    if not found:
        raise ScriptEditError(f"bug {name}: train.py has no line holding {edit.old!r}")
    return "\n".join(out)


def _comment(pad: str, name: str, note: str | None) -> list[str]:
    """The BUG comment, wrapped to stay within 100 columns."""
    if not note:
        return []
    lines = textwrap.wrap(f"BUG ({name}): {note}", 98 - len(pad))
    return [f"{pad}# {text}" for text in lines]
