"""Packed history rows read back exactly as the tuples that went in."""

from __future__ import annotations

import math

import pytest

from playground.history import CHUNK, HistoryRows
from playground.serve.runner import thin


def sample_rows(n: int) -> list[tuple]:
    """Rows shaped like the trainer's: ints, floats, NaN where a metric is not measured."""
    return [(i + 1, i // 7, 1.0 / (i + 1), 0.01 * (i % 3 + 1), math.sqrt(i),
             0.5 if i % 10 == 0 else math.nan, i * 1e-3) for i in range(n)]


def same(a: tuple, b: tuple) -> bool:
    """Equal element by element, NaN equal to NaN, and the same types."""
    pairs = zip(a, b, strict=True) if len(a) == len(b) else ()
    return len(a) == len(b) and all(
        type(x) is type(y) and (x == y or (math.isnan(x) and math.isnan(y))) for x, y in pairs)


@pytest.fixture(scope="module")
def pair() -> tuple[list[tuple], HistoryRows]:
    rows = sample_rows(2 * CHUNK + 17)  # three chunks, the last part-filled
    packed = HistoryRows()
    for row in rows:
        packed.append(row)
    return rows, packed


@pytest.mark.parametrize("index", [0, 1, CHUNK - 1, CHUNK, 2 * CHUNK + 16, -1, -CHUNK])
def test_one_row_reads_back_exactly(pair, index: int) -> None:
    rows, packed = pair
    assert same(packed[index], rows[index])


@pytest.mark.parametrize("cut", [slice(None), slice(CHUNK - 3, CHUNK + 3), slice(None, None, 7),
                                 slice(5, None, 1000), slice(-4, None), slice(10, 10)])
def test_slices_read_back_exactly(pair, cut: slice) -> None:
    rows, packed = pair
    got, want = packed[cut], rows[cut]
    assert len(got) == len(want) and all(same(a, b) for a, b in zip(got, want, strict=True))


@pytest.mark.parametrize("points", [2, 3, 100, 1000, 10_000])
def test_thinning_packed_rows_equals_thinning_the_list(pair, points: int) -> None:
    rows, packed = pair
    got, want = thin(packed, points), thin(rows, points)
    assert len(got) == len(want) <= max(points, 2) and all(same(a, b) for a, b in zip(got, want, strict=True))
    assert same(got[-1], rows[-1])  # the newest row is always drawn


def test_rows_cost_eight_bytes_a_number(pair) -> None:
    rows, packed = pair
    assert packed.nbytes / len(packed) == 7 * 8 * CHUNK * 3 / len(rows)
    assert len(packed) == len(rows) and all(same(a, b) for a, b in zip(list(packed), rows, strict=True))


def test_a_row_of_another_length_is_refused() -> None:
    packed = HistoryRows()
    packed.append((1, 0, 0.5))
    with pytest.raises(ValueError, match="3 numbers, not 2"):
        packed.append((2, 0))
    with pytest.raises(IndexError):
        packed[1]
    assert not HistoryRows() and HistoryRows()[:] == []
