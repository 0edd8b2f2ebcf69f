"""A run's history: one shape from the worker to the chart, the CSV and the CLI.

Rows are packed as float64 chunks (8 bytes a number instead of ~35 as Python objects: a run may keep
200,000 rows and a server may hold 50 runs). Readers get a `Table`, one float array with named
columns, and read it by name (`table["loss"]`, `table.last.step`); a row leaves the trainer as a
named tuple. Nothing converts the rows to lists of tuples and back on the way to a chart.
"""

from __future__ import annotations

import collections
import functools
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

COLUMNS = ("step", "epoch", "loss", "lr", "grad_norm", "update_ratio", "seconds")
INT_COLUMNS = frozenset({"step", "epoch"})  # whole numbers, read back as int
CHUNK = 4096  # rows per block: appends never copy old rows, and a short run stays small


@functools.cache
def row_type(columns: tuple[str, ...]) -> type[NamedTuple]:
    """The named tuple a trainer returns for each step, one type per column set."""
    return collections.namedtuple("Row", columns)  # type: ignore[return-value]


class Table:
    """History rows as one (n, width) float array with named columns."""

    __slots__ = ("columns", "data", "_index")

    def __init__(self, columns: Sequence[str], data: np.ndarray | None = None) -> None:
        self.columns = tuple(columns)
        self.data = np.empty((0, len(self.columns))) if data is None else data
        self._index = {c: i for i, c in enumerate(self.columns)}

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, column: str) -> np.ndarray:
        """One column (a view, not a copy)."""
        return self.data[:, self._index[column]]

    def __contains__(self, column: str) -> bool:
        return column in self._index

    def row(self, i: int) -> Any:
        """Row i as the trainer's named tuple (step and epoch as int)."""
        values = self.data[i].tolist()
        return row_type(self.columns)(*(int(v) if c in INT_COLUMNS and v == v else v
                                        for c, v in zip(self.columns, values, strict=True)))

    @property
    def last(self) -> Any | None:
        """The newest row, or None for an empty table."""
        return self.row(-1) if len(self) else None

    def where(self, mask: np.ndarray) -> Table:
        """The rows where mask is true."""
        return Table(self.columns, self.data[mask])

    def finite(self, column: str = "loss") -> Table:
        """The rows whose `column` is a finite number (what a chart can draw)."""
        return self.where(np.isfinite(self[column]))

    def frame(self) -> pd.DataFrame:
        """As a DataFrame (step and epoch as int64 where every value is whole)."""
        df = pd.DataFrame(self.data, columns=list(self.columns))
        ints = {c: "int64" for c in INT_COLUMNS & set(self.columns)
                if len(df) == 0 or np.isfinite(df[c]).all()}
        return df.astype(ints)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Table) and self.columns == other.columns
                and np.array_equal(self.data, other.data, equal_nan=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Table({len(self)} rows: {', '.join(self.columns)})"


def packed(columns: Sequence[str], rows: Sequence[Sequence[float]]) -> Table:
    """Rows (the trainer's named tuples, in column order) packed into one Table: what a worker sends."""
    return Table(columns, np.array(rows, dtype=np.float64).reshape(len(rows), len(columns)))


def concat(tables: Sequence[Table]) -> Table:
    """Rows of several tables with the same columns, in order."""
    if not tables:
        raise ValueError("concat needs at least one table")
    return Table(tables[0].columns, np.concatenate([t.data for t in tables]))


class HistoryRows:
    """Append-only packed rows of one run; readers get Tables (all, thinned, or new since n)."""

    def __init__(self, columns: Sequence[str] = COLUMNS) -> None:
        self.columns = tuple(columns)
        self._chunks: list[np.ndarray] = []
        self._n = 0

    def append(self, row: Sequence[float]) -> None:
        """Add one row in column order."""
        if len(row) != len(self.columns):
            raise ValueError(f"a history row has {len(self.columns)} numbers, not {len(row)}")
        i = self._n % CHUNK
        if i == 0:
            self._chunks.append(np.empty((CHUNK, len(self.columns)), dtype=np.float64))
        self._chunks[-1][i] = row
        self._n += 1  # last: a reader in another thread never sees a row before it is written

    def extend(self, rows: np.ndarray) -> None:
        """Add many rows (a resumed run's saved history) in order."""
        for row in np.asarray(rows, dtype=np.float64):
            self.append(row)

    def __len__(self) -> int:
        return self._n

    def take(self, rows: np.ndarray) -> np.ndarray:
        """The rows at these (ascending, in-range) indices as one float array, without joining every
        chunk first: a chart thins 200,000 rows to 1,000 several times a second."""
        parts = [self._chunks[k][rows[(rows // CHUNK) == k] % CHUNK] for k in np.unique(rows // CHUNK)]
        return np.concatenate(parts) if parts else np.empty((0, len(self.columns)))

    def array(self) -> np.ndarray:
        """Every row as one (n, width) float array."""
        n = self._n
        if not n:
            return np.empty((0, len(self.columns)))
        whole = np.concatenate(self._chunks) if len(self._chunks) > 1 else self._chunks[0]
        return whole[:n]

    def table(self) -> Table:
        """Every row (a copy: later appends do not show through)."""
        return Table(self.columns, self.array().copy())

    def since(self, start: int) -> Table:
        """The rows from index `start` on: what is new since a reader last looked."""
        n = self._n
        return Table(self.columns, self.take(np.arange(min(start, n), n)))

    def thin(self, max_points: int) -> Table:
        """At most `max_points` evenly spread rows, always with the newest (see `thin_indices`)."""
        return Table(self.columns, self.take(thin_indices(self._n, max_points)))

    @property
    def nbytes(self) -> int:
        """Bytes held by the packed rows (for memory accounting)."""
        return sum(c.nbytes for c in self._chunks)


def thin_indices(n: int, max_points: int) -> np.ndarray:
    """Every k-th index of n (and always the last) so a chart never gets more than max_points."""
    max_points = max(2, max_points)
    if n <= max_points:
        return np.arange(n)
    stride = -(-n // (max_points - 1))
    idx = np.arange(0, n, stride)
    return idx if idx[-1] == n - 1 else np.append(idx, n - 1)


def thin(table: Table, max_points: int) -> Table:
    """A table thinned as `HistoryRows.thin` thins (for curves kept outside a run)."""
    return Table(table.columns, table.data[thin_indices(len(table), max_points)])
