"""Guided experiments on the Train tab: one click loads a setup and starts it; the sentence of what
to watch stays above the live view while that setup is on; each has a share link."""

from __future__ import annotations

import functools
import urllib.parse

import streamlit as st

from playground.config import ConfigError, RunConfig
from playground.lessons.experiments import EXPERIMENTS
from playground.serve import Runner, RunRefused
from playground.ui import lock
from playground.ui.setup import load_into_widgets
from playground.ui.share import base_url

OPEN = "experiments_open"  # session state: whether the list is open


def _load(cfg: RunConfig) -> None:
    """Put a config into every widget (and the sprite picker)."""
    load_into_widgets(cfg, overwrite=True)
    st.session_state.sprite, st.session_state.pixels = cfg.sprite, cfg.pixels


def _try(runner: Runner, name: str, baseline: bool) -> None:
    """Load the experiment (or its comparison) and start it at once."""
    exp = EXPERIMENTS[name]
    cfg = exp.baseline_config() if baseline else exp.config()
    _load(cfg)
    try:
        cfg = lock.locked_config(cfg)  # it runs with the settings a classroom link locks
    except ConfigError as exc:
        st.session_state.refused = f"{lock.message(lock.split(cfg.to_dict())[1])} {exc}"
        return
    st.session_state.experiment = name
    runner.stop(wait=True)
    try:
        runner.start(cfg)
    except RunRefused as exc:
        st.session_state.refused = str(exc)


def link(name: str) -> str:
    """A share link that opens the experiment with its sentence as the task line."""
    return base_url() + "?" + _query(name)


@functools.cache
def _query(name: str) -> str:
    """An experiment's link query, built once per server: every page run lists all of them, and
    building their configs was a sixth of a page run."""
    exp = EXPERIMENTS[name]
    return urllib.parse.urlencode({**exp.config().to_query(), "title": exp.title, "note": exp.watch})


def experiments_panel(runner: Runner) -> None:
    """The list of experiments, each a sentence and one click."""
    box = st.expander("🧪 Guided experiments: one click, one lesson", key=OPEN, on_change="rerun")
    if not box.open:  # drawn only when open: its 20 buttons would cost every page run and redraw
        return
    with box:
        for name, exp in EXPERIMENTS.items():
            text, go = st.columns([5, 2])
            changed = ", ".join(f"{k}={v}" for k, v in exp.baseline.items())
            text.markdown(f"**{exp.title}** · {exp.watch}"
                          + (f" Then compare with **{changed}**." if changed else ""))
            go.button("▶ Try it", key=f"exp_{name}", on_click=_try, args=(runner, name, False),
                      width="stretch", help="Loads these settings into the sidebar and starts.")
            if changed:  # the change is named in the text: a button this narrow cuts it off
                go.button("⇄ Compare", key=f"exp_{name}_base", width="stretch",
                          on_click=_try, args=(runner, name, True),
                          help=f"The same setup with {changed}, to overlay under Runs this session.")
        if hidden := sorted(lock.hidden()):
            st.caption(lock.message(hidden) + " The experiments run with your teacher's values.")
        st.caption("Each experiment is also a link you can share: right-click to copy it from "
                   "the list below.")
        st.markdown(" · ".join(f"[{exp.title}]({link(name)})" for name, exp in EXPERIMENTS.items()))


def watch_note(cfg: RunConfig) -> None:
    """While an experiment's setup is on, say what to watch for."""
    name = st.session_state.get("experiment")
    exp = EXPERIMENTS.get(name) if name else None
    if exp is None:
        return
    if cfg.replace(pace=0) in (exp.config().replace(pace=0),
                               (exp.baseline_config() or exp.config()).replace(pace=0)):
        st.info(f"**{exp.title}**: {exp.watch}", icon="🧪")
    else:
        st.session_state.experiment = None  # the setup moved on
