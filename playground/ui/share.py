"""Share links: the whole setup lives in the URL; a classroom link adds a title, a one-line task
and hides chosen controls."""

from __future__ import annotations

import html
import urllib.parse

import streamlit as st

from playground.config import FIELDS, PAGE_KEYS, RunConfig
from playground.ui.labels import label

MAX_TITLE = 80
MAX_NOTE = 200


def read_page_options() -> None:
    """Classroom options from the link, once per session (bounded, escaped when shown)."""
    if "page_options" in st.session_state:
        return
    q = st.query_params
    hide = [f for f in q.get("hide", "").split(",") if f in FIELDS][:len(FIELDS)]
    st.session_state.page_options = {"title": q.get("title", "")[:MAX_TITLE],
                                     "note": q.get("note", "")[:MAX_NOTE], "hide": hide}
    st.session_state.hidden_fields = set(hide)


def page_query(cfg: RunConfig) -> dict[str, str]:
    """The URL query for this page: the run's settings plus any classroom options in force."""
    query = cfg.to_query()
    opts = st.session_state.get("page_options", {})
    for k in PAGE_KEYS:
        value = ",".join(opts[k]) if k == "hide" and opts.get(k) else opts.get(k)
        if value:
            query[k] = value
    return query


def heading() -> None:
    """A classroom title and task line, if the link set them."""
    opts = st.session_state.get("page_options", {})
    if opts.get("title"):
        st.markdown(f"### {html.escape(opts['title'])}")
    if opts.get("note"):
        st.info(opts["note"], icon="📝")


def base_url() -> str:
    """This page's address without its query."""
    try:
        url = st.context.url or ""
    except Exception:
        url = ""
    return url.split("?")[0] or "http://localhost:8501/"


def share_panel(cfg: RunConfig) -> None:
    """A copyable link to this exact setup, and a classroom link builder."""
    with st.sidebar.expander("🔗 Share this setup"):
        link = base_url() + "?" + urllib.parse.urlencode(page_query(cfg))
        st.code(link, language=None, wrap_lines=True)
        st.caption(f"{len(link):,} characters. Opening it reproduces this run: same settings, "
                   "same sprite, same seed.")
        st.markdown("**Classroom link**")
        title = st.text_input("Title", max_chars=MAX_TITLE, key="share_title")
        note = st.text_input("Task for students", max_chars=MAX_NOTE, key="share_note",
                             placeholder="Find the largest LR that still converges")
        hide = st.multiselect("Hide these controls", [f for f in FIELDS if f not in
                                                      ("sprite", "pixels", "houses")],
                              format_func=label, key="share_hide",
                              help="Students keep this setup's values for these and cannot "
                              "change them from any tab.")
        if title or note or hide:
            extra = {"title": title, "note": note, "hide": ",".join(hide)}
            query = {**cfg.to_query(), **{k: v for k, v in extra.items() if v}}
            st.code(base_url() + "?" + urllib.parse.urlencode(query), language=None,
                    wrap_lines=True)
