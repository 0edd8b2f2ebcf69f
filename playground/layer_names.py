"""Which layer a parameter belongs to, and the columns of the per-layer record: plain names, no
torch, so the diagnostics charts group parameters the way layer_stats.py records them."""

from __future__ import annotations


def layer_of(name: str) -> str:
    """The module a parameter belongs to ("net.4.weight" -> "net.4"; "pixels" -> "pixels")."""
    return name.rsplit(".", 1)[0] if "." in name else name


def columns_for(names: list[str]) -> tuple[str, ...]:
    """A record's columns: the step, then every parameter's gradient, update and weight norm."""
    return ("step", *(f"grad:{n}" for n in names), *(f"update:{n}" for n in names),
            *(f"weight:{n}" for n in names))
