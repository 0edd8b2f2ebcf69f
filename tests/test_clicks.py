"""`pressed`: a button's click is read in the run it caused, even when Streamlit dropped its
trigger and only the callback ran (streamlit/streamlit#16161)."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

SCRIPT = """
import streamlit as st
from playground.ui.clicks import pressed

st.session_state.setdefault("count", 0)
if pressed(st, "Go", key="go"):
    st.session_state.count += 1
st.write(f"count {st.session_state.count}")
"""


def test_a_click_counts_once_in_the_run_it_caused() -> None:
    at = AppTest.from_string(SCRIPT).run()
    assert at.session_state["count"] == 0
    at.button(key="go").click().run()
    assert at.session_state["count"] == 1
    at.run()  # a later run without a click: nothing more
    assert at.session_state["count"] == 1


def test_a_click_whose_trigger_was_dropped_still_counts() -> None:
    """What Streamlit does in the race: the callback ran, then the body saw no trigger."""
    at = AppTest.from_string(SCRIPT).run()
    at.session_state["go__pressed"] = True  # the callback's record, with no trigger this run
    at.run()
    assert at.session_state["count"] == 1
    at.run()
    assert at.session_state["count"] == 1
