"""Packed history rows: read back exactly, by column name, thinned and incrementally."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

from playground.history import (
    CHUNK,
    COLUMNS,
    HistoryRows,
    Table,
    concat,
    packed,
    row_type,
    thin,
    thin_indices,
)


def sample_rows(n: int) -> list[tuple]:
    """Rows shaped like the trainer's: ints, floats, NaN where a metric is not measured."""
    return [(i + 1, i // 7, 1.0 / (i + 1), 0.01 * (i % 3 + 1), math.sqrt(i),
             0.5 if i % 10 == 0 else math.nan, i * 1e-3) for i in range(n)]


def same(a: tuple, b: tuple) -> bool:
    """Equal element by element, NaN equal to NaN."""
    return len(a) == len(b) and all(x == y or (math.isnan(x) and math.isnan(y))
                                    for x, y in zip(a, b, strict=True))


@pytest.fixture(scope="module")
def pair() -> tuple[list[tuple], HistoryRows]:
    rows = sample_rows(2 * CHUNK + 17)  # three chunks, the last part-filled
    packed = HistoryRows(COLUMNS)
    for row in rows:
        packed.append(row)
    return rows, packed


@pytest.mark.parametrize("index", [0, 1, CHUNK - 1, CHUNK, 2 * CHUNK + 16, -1, -CHUNK])
def test_one_row_reads_back_exactly_by_name(pair, index: int) -> None:
    rows, packed = pair
    got = packed.table().row(index)
    assert same(tuple(got), rows[index])
    assert type(got.step) is int and type(got.epoch) is int and type(got.loss) is float
    assert got.step == rows[index][0] and got.lr == rows[index][3]


def test_columns_read_by_name(pair) -> None:
    rows, packed = pair
    table = packed.table()
    assert table.columns == COLUMNS and len(table) == len(rows)
    assert np.array_equal(table["loss"], [r[2] for r in rows])
    assert table.last.step == len(rows) and "grad_norm" in table and "val_loss" not in table
    assert table.frame()["step"].dtype == np.int64


@pytest.mark.parametrize("start", [0, 1, CHUNK - 1, CHUNK, 2 * CHUNK + 16, 2 * CHUNK + 17, 10**6])
def test_rows_since_a_cursor_are_exactly_the_new_ones(pair, start: int) -> None:
    rows, packed = pair
    got = packed.since(start)
    want = rows[start:]
    assert len(got) == len(want) and all(same(tuple(got.data[i]), w) for i, w in enumerate(want))


@pytest.mark.parametrize("points", [2, 3, 100, 1000, 10_000])
def test_thinning_keeps_even_steps_and_the_newest_row(pair, points: int) -> None:
    rows, packed = pair
    got = packed.thin(points)
    idx = thin_indices(len(rows), points)
    assert len(got) == len(idx) <= max(points, 2)
    assert all(same(tuple(got.data[k]), rows[i]) for k, i in enumerate(idx))
    assert got.last.step == rows[-1][0]  # the newest row is always drawn
    assert thin(packed.table(), points) == got  # a table thins the same way as the packed rows


def test_thin_indices_bound_the_count_and_keep_both_ends() -> None:
    for n in (0, 1, 2, 5, 999, 1000, 1001, 123_457):
        idx = thin_indices(n, 1000)
        assert len(idx) <= max(n, 0) and len(idx) <= 1000
        if n:
            assert idx[0] == 0 and idx[-1] == n - 1 and np.all(np.diff(idx) > 0)


def test_rows_cost_eight_bytes_a_number(pair) -> None:
    rows, packed = pair
    assert packed.nbytes == 7 * 8 * CHUNK * 3
    assert len(packed) == len(rows)


def test_a_row_of_another_length_is_refused_and_empty_tables_work() -> None:
    packed = HistoryRows(("step", "epoch", "loss"))
    packed.append((1, 0, 0.5))
    with pytest.raises(ValueError, match="3 numbers, not 2"):
        packed.append((2, 0))
    empty = HistoryRows(COLUMNS)
    assert not len(empty) and empty.table().last is None and len(empty.thin(10)) == 0
    assert len(Table(COLUMNS).frame()) == 0


def test_rows_are_named_tuples_and_tables_concatenate() -> None:
    row = row_type(COLUMNS)(1, 1, 0.5, 0.01, 1.0, math.nan, 0.1)
    assert row.loss == 0.5 and row_type(COLUMNS) is type(row)
    packed = HistoryRows(COLUMNS)
    for r in sample_rows(5):
        packed.append(r)
    both = concat([packed.since(0), packed.since(3)])
    assert len(both) == 7 and both.last.step == 5


def test_named_rows_packed_cross_a_process_boundary_as_one_float_array() -> None:
    """What a worker sends: the trainer's named rows packed into a Table that pickles (a named tuple
    type made at run time would not) and reads back by name, even with no rows."""
    Row = row_type(COLUMNS)
    rows = [Row(*r) for r in sample_rows(5)]
    table = pickle.loads(pickle.dumps(packed(COLUMNS, rows)))
    assert table.data.dtype == np.float64 and table.data.shape == (5, len(COLUMNS))
    assert table.last.step == 5 and table["loss"][0] == 1.0 and same(tuple(table.row(2)), rows[2])
    empty = pickle.loads(pickle.dumps(packed(COLUMNS, [])))
    assert len(empty) == 0 and empty.columns == COLUMNS and empty.last is None
