"""The paths lesson on the page (AppTest): a run on the narrow valley, a click that sets the start,
the bowl's "use the optimum", and a ready-made race of three paths."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from playground.config import RunConfig
from playground.lessons.path_presets import RACES
from playground.lessons.path_theory import bowl_theory
from playground.ui.paths import MAP_KEY
from tests.helpers import wait_until
from tests.test_app import TIMEOUT, open_page, poll, step_of

VALLEY = "SGD vs momentum vs Adam on a narrow valley"


@pytest.fixture
def app():
    at = AppTest.from_file("../app.py", default_timeout=TIMEOUT)
    yield at
    runner = at.session_state["runner"] if "runner" in at.session_state else None  # noqa: SIM401
    if runner is not None:
        runner.stop(wait=True)
        assert runner.join(5)
    if "race_job" in at.session_state and at.session_state["race_job"] is not None:
        at.session_state["race_job"].cancel()
        assert at.session_state["race_job"].join(30)


def test_a_run_on_the_narrow_valley_draws_its_path(app: AppTest) -> None:
    open_page(app, task="paths", surface="bowl", condition="50", rotation="-30", optimizer="sgd",
              lr="1.8", epochs="150")
    assert app.selectbox(key="w_surface").value == "bowl"
    assert any("stable for lr < 2/λ_max = **2**" in m.value for m in app.markdown)
    app.button(key="start").click().run()
    line = poll(app, lambda s: "completed" in s, "the valley run to complete")
    assert step_of(line) == 150
    snap = app.session_state["runner"].snapshot()
    assert abs(snap.view["x"]) < 0.5 and abs(snap.view["y"]) < 0.5  # it reached the bottom
    assert snap.rows["x"][0] == -4.0 and snap.rows["y"][0] == 2.0
    assert {m.label for m in app.metric} >= {"x", "y"}
    assert len(app.get("vega_lite_chart")) >= 3  # the start map, the path map, the loss


def _click_page() -> None:
    """The map's click handler run as Streamlit runs an on_select callback (AppTest cannot click
    a chart): a widget whose callback is the handler, with the chart's event in session state."""
    import streamlit as st

    from playground.ui import paths as paths_ui

    st.button("click", key="click", on_click=paths_ui.start_clicked)


def test_the_click_handler_moves_the_start() -> None:
    at = AppTest.from_function(_click_page, default_timeout=TIMEOUT)
    at.session_state[MAP_KEY] = {"selection": {"start": [{"cx": 2.5, "cy": -1.25}]}}
    at.run()
    at.button(key="click").click().run()
    assert (at.session_state["w_start_x"], at.session_state["w_start_y"]) == (2.5, -1.25)
    at.session_state[MAP_KEY] = {"selection": {"start": [{"cx": 99.0, "cy": -1.0}]}}
    at.button(key="click").click().run()
    assert at.session_state["w_start_x"] == 10.0  # clamped to the setting's range


def test_a_start_set_on_the_page_reaches_the_run_and_the_link(app: AppTest) -> None:
    open_page(app, task="paths", surface="himmelblau")
    assert app.number_input(key="w_start_x").value == 0.0
    app.number_input(key="w_start_x").set_value(2.5).run()
    app.number_input(key="w_start_y").set_value(-1.25).run()
    cfg = app.session_state["cfg"]
    assert (cfg.surface, cfg.start_x, cfg.start_y) == ("himmelblau", 2.5, -1.25)
    assert app.query_params["start_x"] == "2.5" and app.query_params["start_y"] == "-1.25"
    app.selectbox(key="w_surface").set_value("rosenbrock").run()
    assert app.number_input(key="w_start_x").value == -1.5  # a new surface, its own start


def test_use_the_optimum_sets_critical_damping(app: AppTest) -> None:
    open_page(app, task="paths", surface="bowl", condition="100")
    app.button(key="paths_optimum").click().run()
    t = bowl_theory(RunConfig(task="paths", condition=100.0))
    assert app.number_input(key="w_momentum").value == pytest.approx(t.momentum, abs=1e-6)
    assert app.number_input(key="w_lr").value == pytest.approx(t.momentum_lr, abs=1e-6)


def test_a_ready_made_race_of_three_paths(app: AppTest) -> None:
    open_page(app, compare=True, task="paths", surface="rastrigin")
    app.selectbox(key="paths_race_choice").set_value(VALLEY).run()
    app.button(key="paths_race_setup").click().run()
    setup, rows = RACES[VALLEY]
    assert app.selectbox(key="w_surface").value == "bowl"
    assert app.number_input(key="w_condition").value == setup["condition"]
    assert app.selectbox(key="race_preset").value == VALLEY
    app.button(key="race_start").click().run()

    def done():
        app.run()
        assert not app.exception, app.exception
        job = app.session_state["race_job"]
        return not job.alive and job.snapshot()
    snap = wait_until(done, timeout=60, interval=0.1, what="the race")
    assert snap["status"] == "done" and len(snap["curves"]) == 3
    starts = {(c["x"][0], c["y"][0]) for c in snap["curves"]}
    assert starts == {(setup["start_x"], setup["start_y"])}
    board = snap["leaderboard"].set_index("name")
    assert board.loc["adam lr=0.2", "status"] == "completed"
    app.run()
    assert len(app.get("vega_lite_chart")) >= 3  # start map, loss race, path race
