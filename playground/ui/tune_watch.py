"""Watch a shared study fill: the trials that `tune --storage` processes on other machines add,
redrawn every few seconds. Shown only when the operator lists storages (compare/tune_watch.py)."""

from __future__ import annotations

import streamlit as st

from playground.compare.tune_watch import allowed_storages, shown, study_names, watch
from playground.config import ConfigError
from playground.ui.session import PAGE_GATE
from playground.ui.tune import show_study

REFRESH = 3.0  # seconds between reads of the shared storage


def watch_section() -> None:
    """Pick an allowed storage and one of its studies; the study redraws while the box is open."""
    storages = allowed_storages()
    if not storages:
        return
    with st.expander("👀 Watch a shared study (trials from `tune --storage` on any machine)"):
        url = st.selectbox("Storage", storages, format_func=shown, key="watch_storage",
                           persist_state="page")
        try:
            names = study_names(url)
        except ConfigError as exc:
            st.warning(str(exc))
            return
        if not names:
            st.caption("No study in this storage yet: start one with `python -m playground tune "
                       f"--storage {shown(url)} --study NAME ...`.")
            return
        name = st.selectbox("Study", names, key="watch_study", persist_state="page")
        live = st.toggle("Keep watching", value=True, key="watch_live", persist_state="page",
                         help=f"Read the storage again every {REFRESH:g} s.")
        _watched(url, name, live)


def _watched(url: str, name: str, live: bool) -> None:
    """A fragment re-reads the study every REFRESH seconds while watching."""
    @st.fragment(run_every=REFRESH if live else None)
    @PAGE_GATE.gated
    def view() -> None:
        try:
            snap, base, space, objective = watch(url, name)
        except ConfigError as exc:
            st.warning(str(exc))
            return
        frame = snap["trials"]
        if not len(frame):
            st.caption("No trials yet: they appear as the tune processes report them.")
            return
        workers = sorted({w for w in frame["worker"] if w})
        st.caption(f"Study **{name}** · objective {objective.replace('_', ' ')} · "
                   f"{len(workers)} worker process(es): {', '.join(workers[:6])}")
        show_study(snap, frame, base, space, objective, key="watch")
        if loaded := st.session_state.pop("tune_loaded", None):
            st.session_state.watch_notice = loaded
            st.rerun(scope="app")  # the sidebar lives outside this fragment: redraw the page
        if notice := st.session_state.pop("watch_notice", None):
            st.success(notice)
    view()
