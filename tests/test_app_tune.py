"""The Compare tab's Tune, driven by AppTest: a study in a worker, its live table, Use the best."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.helpers import wait_until
from tests.test_app import TIMEOUT, open_page


@pytest.fixture
def app():
    at = AppTest.from_file("../app.py", default_timeout=TIMEOUT)
    yield at
    job = at.session_state["tune_job"] if "tune_job" in at.session_state else None  # noqa: SIM401
    if job is not None:
        job.cancel()
        assert job.join(30)


def wait_study(app: AppTest, timeout: float = 120) -> dict:
    """Rerun the page until the study's job has ended; its last published state."""
    def done():
        app.run()
        assert not app.exception, app.exception
        job = app.session_state["tune_job"] if "tune_job" in app.session_state else None  # noqa: SIM401
        return job is not None and not job.alive and job.snapshot()
    return wait_until(done, timeout=timeout, interval=0.1, what="the study")


def test_a_study_fills_its_table_and_use_the_best_loads_it(app: AppTest) -> None:
    open_page(app, compare=True, model="pixels", size="8", epochs="40", optimizer="sgd", lr="0.5")
    assert app.multiselect(key="tune_params").value == ["lr", "optimizer"]
    assert app.multiselect(key="tune_optimizer").value == ["sgd", "adam", "adamw"]
    app.number_input(key="tune_trials").set_value(8).run()
    app.button(key="tune_start").click().run()
    snap = wait_study(app)
    assert snap["status"] == "done"
    frame = snap["trials"]
    assert frame["trial"].tolist() == list(range(8))
    assert set(frame["state"]) <= {"complete", "pruned"}
    best = snap["best_config"]
    assert snap["best_value"] == frame.loc[frame["state"] == "complete", "value"].min()
    shown = next(d.value for d in app.dataframe if "ended" in d.value.columns)
    assert len(shown) == 8 and {"state", "value", "lr", "optimizer", "ended"} <= set(shown.columns)
    assert any(m.value.startswith(f"**Best:** trial {snap['best_trial']}") for m in app.markdown)
    assert any(best.to_query()["lr"] in c.value for c in app.code)  # the share link of the best
    app.button(key="tune_use").click().run()
    assert app.number_input(key="w_lr").value == pytest.approx(best.lr)
    assert app.selectbox(key="w_optimizer").value == best.optimizer
    assert any("Loaded the best trial's" in s.value for s in app.success)


def test_a_locked_setting_is_not_offered_and_a_bad_range_is_refused(app: AppTest) -> None:
    open_page(app, compare=True, model="pixels", size="8", epochs="40", hide="lr")
    assert "lr" not in app.multiselect(key="tune_params").options
    assert any("set by your teacher" in c.value for c in app.caption)
    app.multiselect(key="tune_params").set_value(["momentum"]).run()
    app.number_input(key="tune_momentum_lo").set_value(0.9).run()
    app.number_input(key="tune_momentum_hi").set_value(0.5).run()
    assert [w.value for w in app.warning] == [
        "momentum=0.9:0.5: the low end must be below the high end"]
    assert app.button(key="tune_start").disabled


def test_stop_ends_the_study_and_keeps_its_trials(app: AppTest) -> None:
    # seconds a trial: Stop lands in one
    open_page(app, compare=True, model="pixels", size="8", epochs="20000")
    app.number_input(key="tune_trials").set_value(50).run()
    app.button(key="tune_start").click().run()
    job = app.session_state["tune_job"]
    wait_until(lambda: app.run() and len(job.snapshot().get("trials", [])) >= 1, timeout=120,
               interval=0.1, what="a first trial")
    app.button(key="tune_stop").click().run()
    snap = wait_study(app)
    assert snap["status"] == "cancelled"
    assert 1 <= len(snap["trials"]) < 50 and "stopped" in set(snap["trials"]["state"])
