"""Classroom locks: a setting a classroom link hides keeps the link's value, whichever control
tries to change it (sidebar, race table, LR finder, stability map, presets, restores, experiments).
Every control that writes settings asks `split` first; `config_from_widgets` re-imposes the locked
values as a backstop, so a control that forgets cannot leak a change into a run."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import streamlit as st

from playground.config import RunConfig
from playground.ui.labels import listing


def hidden() -> set[str]:
    """The settings this session's classroom link hides (empty for an ordinary link)."""
    return set(st.session_state.get("hidden_fields", ()))


def remember(cfg: RunConfig) -> None:
    """Keep the link's values of the hidden settings: they are what the teacher set."""
    st.session_state.locked_values = {name: getattr(cfg, name) for name in hidden()}


def locked_values() -> dict[str, Any]:
    """The hidden settings and the values they are held at."""
    kept = st.session_state.get("locked_values", {})
    cfg = st.session_state.get("cfg")
    return {n: kept[n] if n in kept else getattr(cfg, n) for n in hidden()
            if n in kept or cfg is not None}


def split(changes: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The changes a control may make, and the names of the locked settings it tried to change."""
    held = locked_values()
    allowed = {k: v for k, v in changes.items() if k not in held}
    refused = [k for k, v in changes.items() if k in held and v != held[k]]
    return allowed, refused


def message(names: Iterable[str]) -> str:
    """'🔒 The learning rate is set by your teacher.' (named as the page labels them)."""
    names = list(names)
    text = listing(names)
    verb = "is" if len(names) == 1 else "are"
    return f"🔒 {text[0].upper()}{text[1:]} {verb} set by your teacher."


def refuse(names: Iterable[str]) -> None:
    """Note refused changes; the sidebar says so on its next draw (`notice`)."""
    names = [n for n in names if n not in st.session_state.get("lock_refused", [])]
    if names:
        st.session_state.lock_refused = [*st.session_state.get("lock_refused", []), *names]


def notice(box: Any = st) -> None:
    """Say once which settings a control could not change because they are locked."""
    refused = st.session_state.pop("lock_refused", None)
    if refused:
        left = "it as it is" if len(refused) == 1 else "them as they are"
        box.caption(message(refused) + f" That control left {left}.")


def locked_config(cfg: RunConfig) -> RunConfig:
    """cfg with every locked setting at its locked value (raises ConfigError if they clash)."""
    held = locked_values()
    return cfg.replace(**held) if held else cfg
