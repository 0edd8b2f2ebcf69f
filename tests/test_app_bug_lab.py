"""The bug lab on the page (AppTest): pick a mistake, read the red wrong line beside the right one
and the sentence, race it, see both curves measured; put it into the run and take it out again."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from playground.bugs import BUGS
from tests.helpers import wait_until
from tests.test_app import TIMEOUT, open_page


@pytest.fixture
def app():
    at = AppTest.from_file("../app.py", default_timeout=TIMEOUT)
    yield at
    job = at.session_state["bug_lab_job"] if "bug_lab_job" in at.session_state else None  # noqa: SIM401
    if job is not None:
        job.cancel()
        assert job.join(30)


def markdown_with(at: AppTest, text: str) -> list[str]:
    return [m.value for m in at.markdown if text in m.value]


def test_pick_a_bug_race_it_and_see_the_wrong_line_and_what_to_watch(app: AppTest) -> None:
    open_page(app, compare=True, task="classify", model="mlp", hidden="16", samples="200", epochs="3",
              patience="0")
    pick = app.selectbox(key="bug_lab_pick_classify")
    assert set(pick.options) == {BUGS[n].title for n in BUGS if "classify" in BUGS[n].tasks}
    pick.set_value("no_zero_grad").run()
    bug = BUGS["no_zero_grad"]
    panel = markdown_with(app, "the bug")
    assert len(panel) == 1 and "#b42318" in panel[0] and "#1a7f37" in panel[0]  # red, green
    assert panel[0].index(bug.wrong) < panel[0].index(bug.right)  # the fix beside the bug
    assert [i.value for i in app.info if bug.watch in i.value]
    app.button(key="bug_lab_start").click().run()

    def finished() -> bool:
        app.run()
        assert not app.exception, app.exception
        job = app.session_state["bug_lab_job"]
        return not job.alive and any(c.value.startswith("Measured") for c in app.caption)
    wait_until(finished, timeout=90, interval=0.1, what="the bug race")
    snap = app.session_state["bug_lab_job"].snapshot()
    assert snap["status"] == "done" and snap["statuses"] == ["completed", "completed"]
    correct, buggy = (f["value"].mean() for f in snap["frames"])
    assert buggy > 2 * correct  # gradients pile up
    line = next(c.value for c in app.caption if c.value.startswith("Measured"))
    assert "gradient norm: correct" in line and "buggy" in line
    charts = [c.proto.spec for c in app.get("vega_lite_chart")]
    assert any("training loss" in s and "gradient norm" in s and "#d62728" in s for s in charts)


def test_put_the_bug_in_my_run_then_fix_it(app: AppTest) -> None:
    open_page(app, compare=True, task="classify", model="mlp", hidden="16", samples="200", epochs="3")
    app.selectbox(key="bug_lab_pick_classify").set_value("no_eval").run()
    assert any("dropout=0.5" in c.value for c in app.caption)  # the lab's setup, said aloud
    app.button(key="bug_lab_apply").click().run()
    assert app.session_state["w_bug"] == "no_eval" and app.session_state["w_dropout"] == 0.5
    assert app.session_state["cfg"].bug == "no_eval"
    assert [w.value for w in app.sidebar.warning if "no_eval" in w.value]
    app.button(key="bug_lab_fix").click().run()
    assert app.session_state["cfg"].bug == "none"
    assert not [w.value for w in app.sidebar.warning if "no_eval" in w.value]


def test_a_link_with_a_bug_that_does_not_fit_its_task_is_dropped_with_a_sentence(app: AppTest) -> None:
    open_page(app, task="line", bug="softmax_ce")
    assert app.session_state["cfg"].bug == "none"
    assert any("softmax_ce" in w.value for w in [*app.warning, *app.sidebar.warning])
