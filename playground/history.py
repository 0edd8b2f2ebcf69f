"""A run's history as packed float64 chunks: a list of tuples to its readers, 56 bytes a row inside.

A row of 7 numbers as a Python tuple of int and float objects costs about 250 bytes; a run may keep
200,000 of them and a server may hold 50 such runs. Here a row costs 8 bytes a column, and reading
rows back gives the same tuples (step and epoch as ints, the rest as floats, NaN where missing).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import overload

import numpy as np

CHUNK = 4096  # rows per block: appends never copy old rows, and a short run stays small
INT_COLUMNS = 2  # step and epoch


class HistoryRows:
    """Append-only rows of equal length, read back as tuples (index, slice, iteration)."""

    def __init__(self) -> None:
        self._chunks: list[np.ndarray] = []
        self._n = 0
        self._width = 0

    def append(self, row: tuple) -> None:
        """Add one row; every row must have as many numbers as the first."""
        if not self._width:
            self._width = len(row)
        elif len(row) != self._width:
            raise ValueError(f"a history row has {self._width} numbers, not {len(row)}")
        i = self._n % CHUNK
        if i == 0:
            self._chunks.append(np.empty((CHUNK, self._width), dtype=np.float64))
        self._chunks[-1][i] = row
        self._n += 1  # last: a reader in another thread never sees a row before it is written

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, index: int) -> tuple: ...

    @overload
    def __getitem__(self, index: slice) -> list[tuple]: ...

    def __getitem__(self, index: int | slice) -> tuple | list[tuple]:
        if isinstance(index, slice):
            return _tuples(self.take(np.arange(self._n)[index]))
        if index < 0:
            index += self._n
        if not 0 <= index < self._n:
            raise IndexError("history row index out of range")
        return _tuples(self._chunks[index // CHUNK][index % CHUNK: index % CHUNK + 1])[0]

    def __iter__(self) -> Iterator[tuple]:
        return iter(self[:])

    def take(self, rows: np.ndarray) -> np.ndarray:
        """The rows at these (ascending, in-range) indices as one float array, without first
        joining every chunk: a chart thins 200,000 rows to 1,000 several times a second."""
        parts = [self._chunks[k][rows[(rows // CHUNK) == k] % CHUNK]
                 for k in np.unique(rows // CHUNK)]
        return np.concatenate(parts) if parts else np.empty((0, self._width), dtype=np.float64)

    def array(self) -> np.ndarray:
        """Every row as one (n, width) float array: the cheap way to chart or export them."""
        if not self._n:
            return np.empty((0, self._width), dtype=np.float64)
        whole = np.concatenate(self._chunks) if len(self._chunks) > 1 else self._chunks[0]
        return whole[:self._n]

    @property
    def nbytes(self) -> int:
        """Bytes held by the packed rows (for memory accounting)."""
        return sum(c.nbytes for c in self._chunks)


def _tuples(block: np.ndarray) -> list[tuple]:
    """Rows of a float block as tuples with the integer columns back as ints (a structured array's
    tolist() builds the tuples in C: a live refresh converts 1,000 rows 4 times a second)."""
    width = block.shape[1]
    record = np.empty(len(block), dtype=_record_dtype(width))
    for i in range(width):
        record[f"c{i}"] = block[:, i]
    return record.tolist()


@functools.cache
def _record_dtype(width: int) -> np.dtype:
    """int64 for the integer columns, float64 for the rest."""
    return np.dtype([(f"c{i}", np.int64 if i < INT_COLUMNS else np.float64) for i in range(width)])
