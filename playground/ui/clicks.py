"""A button press that survives Streamlit dropping its trigger.

Streamlit 1.67 can merge a button's rerun with a fragment's rerun that is already queued (the live
view's, four times a second) and then drop the button's trigger, so `if st.button(...)` reads
False in the very run the click caused, while the button's callback has run
(streamlit/streamlit#16161). A learner's "Compute the landscape" right after a run ended did
nothing that way. `pressed` records the click in its callback and reads it back in the body.
"""

from __future__ import annotations

from typing import Any

import streamlit as st


def pressed(box: Any, label: str, key: str, **options: Any) -> bool:
    """`box.button(label, key=key, ...)`, True in the run after its click even if Streamlit
    dropped the click's trigger (the callback always runs first)."""
    flag = f"{key}__pressed"
    box.button(label, key=key, on_click=_remember, args=(flag,), **options)
    return bool(st.session_state.pop(flag, False))


def _remember(flag: str) -> None:
    st.session_state[flag] = True
