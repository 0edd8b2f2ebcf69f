"""A fragment changes its own redraw interval without a full page run.

Streamlit sets a fragment's interval when a full run declares it (`st.fragment(run_every=...)`).
The browser keeps one timer per fragment and replaces it when an AutoRerun message with a new
interval arrives (`App.handleAutoRerun` in Streamlit's front end; benchmarks/load.py copies it).
Sending that message from the fragment's own rerun changes the pace for one small message, where
`st.rerun(scope="app")` redraws the whole page: with turns, 50 queued runs flip between queued
and running every few seconds, and those full runs were most of the server's CPU
(docs/reliability.md).
"""

from __future__ import annotations

try:  # Streamlit internals (pinned in requirements.txt); without them the caller reruns the app
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    from streamlit.runtime.scriptrunner import get_script_run_ctx
    from streamlit.runtime.scriptrunner_utils.script_run_context import ThreadState
except ImportError:  # pragma: no cover - a Streamlit that moved them
    ForwardMsg = get_script_run_ctx = ThreadState = None  # type: ignore[assignment,misc]


def fragment_id() -> str | None:
    """The id of the fragment running now, or None outside one (or on an unknown Streamlit)."""
    if ThreadState is None:
        return None
    try:
        return ThreadState.get().fragment_id or None
    except (RuntimeError, AttributeError):
        return None


def set_interval(seconds: float) -> bool:
    """Ask the browser to rerun the running fragment every `seconds` from now on. False when
    that cannot be done here, so the caller falls back to a full run (which re-declares it)."""
    ctx = get_script_run_ctx(suppress_warning=True) if get_script_run_ctx else None
    fid = fragment_id()
    if ctx is None or fid is None or seconds <= 0:
        return False
    msg = ForwardMsg()
    msg.auto_rerun.interval = seconds
    msg.auto_rerun.fragment_id = fid
    ctx.enqueue(msg)
    return True
