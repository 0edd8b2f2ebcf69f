"""Widgets the server rewrites while the page keeps talking: tell a stale echo from a change.

While a run is live the page reruns four times a second, and every rerun carries every widget's
value as the browser last showed it. When the server rewrites a widget (the sidebar follows a rate
typed in the live box, the box follows the slider, the live box follows the run), the browser sends
the old value back until the new one reaches it, and Streamlit calls the widget's on_change as if
someone had changed it. Measured on the live LR box: every typed rate was followed by the old rate a
moment later, so the run's rate went back and forth and a value typed meanwhile could be lost.
A value the server replaced is such an echo for `ECHO_S` seconds from the end of the run that sent
the replacement (a long run on a busy server must not use the window up before the browser has the
new value; measured in CI: an echo came back after the 3 s a clock started at the rewrite allowed),
and for as long as the echoes keep coming; anything else is a change.
"""

from __future__ import annotations

import time
from typing import Any

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

ECHO_S = 5.0  # longer than a rerun's round trip on a busy server; shorter than a person's second look
_BOOK, _UNSENT = "echo_book", "echo_unsent"


def rewrite(key: str, value: Any) -> None:
    """Set a widget's value from the server, remembering the value the browser may still send."""
    now = time.monotonic()
    book = st.session_state.setdefault(_BOOK, {})
    old = st.session_state.get(key)
    stale = [(v, t) for v, t in book.get(key, {}).get("stale", []) if now - t < ECHO_S and v != value]
    if old is not None and old != value:
        stale.append((old, now))
    book[key] = {"value": value, "stale": stale}
    st.session_state.setdefault(_UNSENT, set()).add(key)
    st.session_state[key] = value


def sent(fragment: bool = False) -> None:
    """At the end of a run: the browser gets this run's rewrites only now, so their windows start
    here. With `fragment`, only at the end of a fragment's own rerun (inside a full run, the full
    run's end is the one that counts)."""
    if fragment and not getattr(get_script_run_ctx(), "fragment_ids_this_run", None):
        return
    now, book = time.monotonic(), st.session_state.get(_BOOK, {})
    for key in st.session_state.pop(_UNSENT, set()):
        if key in book:
            book[key]["stale"] = [(v, now) for v, _ in book[key]["stale"]]


def is_echo(key: str) -> bool:
    """In a widget's on_change: True when its new value is one the server replaced moments ago (the
    browser had not seen the replacement yet); the server's value is put back and nothing changes."""
    entry = st.session_state.get(_BOOK, {}).get(key)
    if entry is None:
        return False
    value, now = st.session_state.get(key), time.monotonic()
    if any(v == value and now - t < ECHO_S for v, t in entry["stale"]):
        st.session_state[key] = entry["value"]
        entry["stale"] = [(v, now if v == value else t) for v, t in entry["stale"]]  # still stale
        return True
    entry["value"] = value  # a real change: the browser holds it, so it is the value to put back
    return False
