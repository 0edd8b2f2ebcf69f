"""Widgets the server rewrites while the page keeps talking: tell a stale echo from a change.

While a run is live the page reruns four times a second, and every rerun carries every widget's
value as the browser last showed it. When the server rewrites a widget (the sidebar follows a rate
typed in the live box, the box follows the slider, the live box follows the run), the browser sends
the old value back until the new one reaches it, and Streamlit calls the widget's on_change as if
someone had changed it. Measured on the live LR box: every typed rate was followed by the old rate a
moment later, so the run's rate went back and forth and a value typed meanwhile could be lost.
A value the server replaced within `ECHO_S` seconds is such an echo; anything else is a change.
"""

from __future__ import annotations

import time
from typing import Any

import streamlit as st

ECHO_S = 3.0  # longer than a rerun's round trip on a busy server; shorter than a person's second look
_BOOK = "echo_book"


def rewrite(key: str, value: Any) -> None:
    """Set a widget's value from the server, remembering the value the browser may still send."""
    now = time.monotonic()
    book = st.session_state.setdefault(_BOOK, {})
    old = st.session_state.get(key)
    stale = [(v, t) for v, t in book.get(key, {}).get("stale", []) if now - t < ECHO_S and v != value]
    if old is not None and old != value:
        stale.append((old, now))
    book[key] = {"value": value, "stale": stale}
    st.session_state[key] = value


def is_echo(key: str) -> bool:
    """In a widget's on_change: True when its new value is one the server replaced moments ago (the
    browser had not seen the replacement yet); the server's value is put back and nothing changes."""
    entry = st.session_state.get(_BOOK, {}).get(key)
    if entry is None:
        return False
    value, now = st.session_state.get(key), time.monotonic()
    if any(v == value and now - t < ECHO_S for v, t in entry["stale"]):
        st.session_state[key] = entry["value"]
        return True
    entry["value"] = value  # a real change: the browser holds it, so it is the value to put back
    return False
