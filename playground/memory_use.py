"""How many bytes a run's tensors take: the server's memory budget admits and frees runs by these
numbers (serve/admission.py)."""

from __future__ import annotations

from collections.abc import Iterable

from torch import Tensor


def storage_bytes(tensors: Iterable[Tensor]) -> int:
    """Bytes of tensor storage, each storage counted once (views of one storage share it)."""
    storages = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in tensors}
    return sum(storages.values())


def expected_bytes(held: int, params: Iterable[Tensor], data: Iterable[object]) -> int:
    """What a run will hold once stepping: the weights six times over (gradients, best copy,
    scratch, two optimizer moments) plus the data, or what it holds already if that is more."""
    weights = sum(p.untyped_storage().nbytes() for p in params)
    data_bytes = sum(t.untyped_storage().nbytes() for t in data if isinstance(t, Tensor))
    return max(held, 6 * weights + data_bytes)
