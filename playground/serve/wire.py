"""What crosses between the server's processes: a run's state as bytes (pack/unpack: the pages'
process, the worker and a checkpoint all read it) and `Cancelled`, which a job's work raises in
the worker. A leaf module, so the worker, the job bodies and the page-side jobs all import it
without importing each other."""

from __future__ import annotations

import io
from typing import Any

import torch


class Cancelled(Exception):
    """Raised inside a job's work when the user cancelled it (or its session went away)."""


def pack(state: dict[str, Any]) -> bytes:
    """A trainer's state as bytes: what travels between processes and what a checkpoint holds."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def unpack(data: bytes) -> dict[str, Any]:
    """The inverse of pack; `weights_only` refuses anything but tensors and plain data."""
    return torch.load(io.BytesIO(data), weights_only=True)
