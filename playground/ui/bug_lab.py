"""The Compare tab's bug lab: pick a classic loop mistake, see the wrong line beside the right one,
and race the buggy loop against the correct one from identical weights (a worker runs it)."""

from __future__ import annotations

import html

import streamlit as st

from playground.bugs import BUGS, Bug, bugs_for, lab_pair
from playground.bugs.lab import CHART_TITLES, SIDES, summary
from playground.charts.bugs import lab_chart, lab_frame
from playground.config import ConfigError, RunConfig
from playground.config_values import format_value
from playground.serve import LIMITS, Job
from playground.ui import lock
from playground.ui.clicks import pressed
from playground.ui.session import PAGE_GATE, track_job
from playground.ui.setup import set_widgets

REFRESH = LIMITS.live_refresh  # the live view's rate
_BOX = ("margin:0;padding:0.5em 0.75em;border-radius:6px;white-space:pre-wrap;"
        "font-family:ui-monospace,monospace;font-size:0.85em;")


def code_panel(bug: Bug) -> str:
    """The wrong line in red beside the right one in green (HTML, escaped)."""
    def box(label: str, code: str, colour: str, back: str) -> str:
        return (f'<div style="flex:1;min-width:16em"><div style="color:{colour};font-weight:600">'
                f'{label}</div><pre style="{_BOX}background:{back};color:{colour};'
                f'border-left:4px solid {colour}">{html.escape(code)}</pre></div>')
    return ('<div style="display:flex;gap:0.75em;flex-wrap:wrap">'
            + box("✗ the bug", bug.wrong, "#b42318", "#fdecea")
            + box("✓ the fix", bug.right, "#1a7f37", "#e8f5e9") + "</div>")


def _changes_text(changes: dict) -> str:
    return ", ".join(f"{k}={format_value(v)}" for k, v in changes.items())


def _put_in_run(changes: dict) -> None:
    """The bug (or its fix) into the sidebar, so the Train tab runs it and the link carries it."""
    set_widgets(changes)


def bug_lab_section(cfg: RunConfig) -> None:
    """Pick a mistake, read what to watch, race it against the correct loop."""
    st.divider()
    st.markdown("**Bug lab** — a classic training-loop mistake raced against the correct loop, "
                "from the *same* weights on the *same* batches.")
    bugs = bugs_for(cfg.task)
    if not bugs:  # the paths lesson: a point on a surface has no batches or validation to get wrong
        st.caption("This lesson has no loop mistakes in the lab: try it on generate, classify or "
                   "line.")
        return
    name = st.selectbox("Mistake", list(bugs), format_func=lambda n: bugs[n].title,
                        key=f"bug_lab_pick_{cfg.task}", persist_state="page")
    bug = bugs[name]
    st.markdown(code_panel(bug), unsafe_allow_html=True)
    st.info(f"👀 {bug.watch}")
    try:
        correct, buggy = lab_pair(cfg, name)
        problem = None
    except ConfigError as exc:
        problem = f"This mistake cannot be raced on these settings: {exc}"
    if problem is None and (setup := bug.setup(cfg)):
        st.caption(f"Both loops race with {_changes_text(setup)} so the mistake shows "
                   "(your sidebar is not changed).")
    if problem is None and bug.fix:
        st.caption(f"The correct loop also has {_changes_text(bug.fix)}: that is the fix.")
    job: Job | None = st.session_state.get("bug_lab_job")
    a, b, c = st.columns([1, 1, 2])
    if pressed(a, "🐞 Race it", key="bug_lab_start", type="primary",
                disabled=problem is not None or bool(job and job.alive)):
        job = track_job(Job("Bug lab", "bug_race", (cfg, name)).start())
        st.session_state.bug_lab_job = job
        st.session_state.bug_lab_raced = (name, correct.task)
    if pressed(b, "Stop", key="bug_lab_stop", disabled=not (job and job.alive)):
        job.cancel()
    _own_run_controls(c, cfg, name, None if problem else {**bug.setup(cfg), "bug": name})
    if problem:
        st.warning(problem)
    raced = st.session_state.get("bug_lab_raced")
    if job is not None and raced and raced[1] == cfg.task:
        _race_view(job, raced[0])


def _own_run_controls(box: st.delta_generator.DeltaGenerator, cfg: RunConfig, name: str,
                      changes: dict | None) -> None:
    """Put the mistake into the user's own run, or take it out again (classroom locks hold)."""
    locked = "bug" in lock.hidden()
    if cfg.bug != "none":
        box.button("✓ Fix my run", key="bug_lab_fix", disabled=locked, on_click=_put_in_run,
                   args=({"bug": "none", **BUGS[cfg.bug].fix},),
                   help=f"Your own run has the bug '{cfg.bug}': take it out.")
    elif changes is not None:
        box.button("Put it in my run", key="bug_lab_apply", disabled=locked, on_click=_put_in_run,
                   args=(changes,), help="The Train tab then runs this mistake (and its train.py "
                   f"holds it): {_changes_text(changes)}.")
    if locked:
        box.caption(lock.message(["bug"]))


def _race_view(job: Job, name: str) -> None:
    """Both curves and a measured line, redrawn while the race runs."""
    bug = BUGS[name]

    @st.fragment(run_every=REFRESH if job.alive else None)
    @PAGE_GATE.gated
    def view() -> None:
        snap = job.snapshot()
        status = snap.get("status", "")
        if status == "queued":
            st.caption(f"🟡 queued for a free training slot (position {snap.get('position', 1)})")
        else:
            st.progress(min(1.0, snap.get("progress", 0.0)),
                        text=f"{bug.title}: {status} · step {snap.get('step', 0):,}")
        for side, reason in zip(SIDES, snap.get("reasons", []), strict=False):
            if reason.startswith("diverged"):
                st.caption(f"💥 {side} loop: {reason}")
        frames = snap.get("frames")
        if frames:
            title = CHART_TITLES[bug.chart]
            st.altair_chart(lab_chart(lab_frame(frames, SIDES), bug.chart, title), width="stretch")
            st.caption(f"Measured · {summary(frames, bug.chart)}")
        if snap.get("message"):
            st.warning(snap["message"])
        if st.session_state.get("bug_lab_polling") and not job.alive:
            st.session_state.bug_lab_polling = False
            st.rerun(scope="app")
        st.session_state.bug_lab_polling = job.alive
    view()
