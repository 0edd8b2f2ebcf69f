"""The live panel after a run has ended: kept when only live settings moved, replaced by a
"setup changed" hint when the next Start would train something else (AppTest)."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from playground.charts.common import ZOOM_HINT
from tests.test_app import app, open_page, poll, status  # noqa: F401

NEW_SETUP = "the setup changed since the last run"


def shown(at: AppTest) -> str:
    """Every markdown and HTML body on the page."""
    return " ".join([m.value for m in at.markdown] + [h.proto.body for h in at.get("html")])


def test_a_rate_changed_live_keeps_the_run_result_after_it_ends(app: AppTest) -> None:  # noqa: F811
    open_page(app, model="pixels", optimizer="sgd", lr="0.01", epochs="600", pace="120")
    app.button(key="start").click().run()
    poll(app, lambda s: "running" in s and "step" in s, "running")
    app.number_input(key="w_lr").set_value(0.02).run()
    poll(app, lambda s: "lr 0.02" in s, "the rate changed live")
    app.select_slider(key="w_pace").set_value(0).run()  # pace is live too: finish quickly
    poll(app, lambda s: "completed" in s or "ready" in s, "the run to end", timeout=30)
    assert "completed" in status(app) and NEW_SETUP not in shown(app)
    assert 'alt="generated"' in shown(app)
    app.number_input(key="w_lr").set_value(0.05).run()  # after the run: the next one differs
    assert NEW_SETUP in shown(app)


def test_a_new_target_after_a_run_says_the_setup_changed(app: AppTest) -> None:  # noqa: F811
    open_page(app, model="pixels", epochs="20")
    app.button(key="start").click().run()
    poll(app, lambda s: "completed" in s, "the run to complete")
    assert NEW_SETUP not in shown(app)
    assert sum(c.value == ZOOM_HINT for c in app.caption) == 1  # once, under the loss chart
    app.session_state["sprite"] = "mushroom"  # what a thumbnail click sets
    app.run()
    assert NEW_SETUP in shown(app) and "completed" not in status(app)
    assert 'alt="generated"' not in shown(app)
    assert any("Press ▶ Start" in i.value for i in app.info)
