"""The loss landscape under a finished run, driven by AppTest: compute it as a job, see the map and
the slice along the next step; a running run cannot be sliced."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.helpers import wait_until
from tests.test_app import TIMEOUT, open_page, poll


@pytest.fixture
def app():
    at = AppTest.from_file("../app.py", default_timeout=TIMEOUT)
    yield at
    for key in ("land_job",):
        job = at.session_state[key] if key in at.session_state else None  # noqa: SIM401
        if job is not None:
            job.cancel()
            assert job.join(30)
    runner = at.session_state["runner"] if "runner" in at.session_state else None  # noqa: SIM401
    if runner is not None:
        runner.stop(wait=True)
        assert runner.join(5)


def charts(app: AppTest) -> list[dict]:
    """Every Vega-Lite spec on the page, parsed."""
    import json

    return [json.loads(c.proto.spec) for c in app.get("vega_lite_chart")]


def test_a_finished_classify_run_gets_its_landscape(app: AppTest) -> None:
    open_page(app, task="classify", samples="120", size="8", epochs="3", patience="0")
    assert not any(b.key == "land_start" for b in app.button)  # no run yet: nothing to slice
    app.button(key="start").click().run()
    poll(app, lambda s: "completed" in s, "the classifier to finish", timeout=90)
    before = len(charts(app))
    app.slider(key="land_res").set_value(9).run()
    app.button(key="land_start").click().run()

    def done():
        app.run()
        assert not app.exception, app.exception
        job = app.session_state["land_job"]
        return not job.alive and job.snapshot()
    snap = wait_until(done, timeout=120, interval=0.1, what="the landscape")
    assert snap["status"] == "done", snap.get("message")
    app.run()
    specs = charts(app)
    assert len(specs) == before + 2  # the contour map and the slice
    land = snap["result"]
    assert land.grid.shape == (9, 9) and land.path["step"].iloc[-1] == land.step
    text = " ".join(m.value for m in app.markdown)
    assert f"The loss around step {land.step:,}** (centre: {land.centre_loss:.4g})" in text
    assert any("Directions: the path's top two principal directions" in c.value for c in app.caption)
    assert len(app.info) >= 1 and "step" in app.info[0].value


def test_a_running_run_cannot_be_sliced(app: AppTest) -> None:
    open_page(app, task="classify", samples="120", size="8", epochs="100000", patience="0")
    app.button(key="start").click().run()
    poll(app, lambda s: s.startswith("🟢"), "the run to go", timeout=60)
    assert app.button(key="land_start").disabled
    assert any("Pause the run, or let it finish" in c.value for c in app.caption)
