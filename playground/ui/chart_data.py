"""Live charts' data, encoded once per version.

A live chart's dataset is named for what it holds (run, rows, smoothing), and a redraw with
nothing new sends the same name again: a queued or paused page, and the diagnostics between their
once-a-second updates. Building those frames and encoding them as Arrow again was most of the
server's work with 50 sessions (docs/reliability.md); here each chart keeps its last version's
Arrow bytes, which Streamlit passes through as they are (`st.vega_lite_chart` takes a named
dataset as bytes).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

import pandas as pd
import streamlit as st
from streamlit.dataframe_util import convert_anything_to_arrow_bytes

from playground.charts import annotations
from playground.charts import run as run_charts

T = TypeVar("T")
KEY = "chart_data"  # session state: chart slot -> (version name, what was made for it)


def kept(slot: str, name: str, make: Callable[[], T]) -> T:
    """What `make` returns for version `name` of the chart in `slot`, made once per version (one
    version per slot is kept: a chart only ever redraws its latest)."""
    cache = st.session_state.setdefault(KEY, {})
    hit = cache.get(slot)
    if hit is not None and hit[0] == name:
        return hit[1]
    value = make()
    cache[slot] = (name, value)
    return value


def arrow(frame: pd.DataFrame) -> bytes:
    """A frame as the Arrow bytes Streamlit would send for it."""
    return convert_anything_to_arrow_bytes(frame)


def arrow_kept(slot: str, name: str, make: Callable[[], pd.DataFrame]) -> bytes:
    """The Arrow bytes of the frame `make` builds for version `name`, built and encoded once."""
    return kept(slot, name, lambda: arrow(make()))


@functools.lru_cache(maxsize=256)
def _marks_arrow(found: tuple[annotations.Mark, ...], x: str) -> bytes:
    """A set of marks as Arrow bytes: the same few sets recur on every redraw of every chart."""
    return arrow(annotations.mark_frame(found, x))


def with_marks(spec: dict, found: tuple[annotations.Mark, ...], x: str = "step") -> dict:
    """`annotations.with_marks` with the marks encoded once per set, not per chart and redraw."""
    return annotations.with_marks(spec, found, x, data=_marks_arrow(found, x))


@functools.lru_cache(maxsize=256)
def _epochs_arrow(starts: tuple[int, ...]) -> bytes:
    """A run's epoch starts as Arrow bytes (they change once an epoch, the chart four times a
    second)."""
    return arrow(run_charts.epoch_frame(starts))


def with_epochs(spec: dict, starts: tuple[int, ...]) -> dict:
    """`run.with_epochs` with the rules encoded once per set."""
    return run_charts.with_epochs(spec, starts, data=_epochs_arrow(starts))
