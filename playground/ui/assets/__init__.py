"""The inline components' HTML, CSS and JavaScript, kept as real files that editors and linters see."""

from __future__ import annotations

from importlib.resources import files


def read_asset(name: str) -> str:
    """The text of one file in this folder; callers read it once, at import."""
    return files(__name__).joinpath(name).read_text(encoding="utf-8")
