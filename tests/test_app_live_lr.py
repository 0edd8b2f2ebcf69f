"""A learning rate changed during a run, against the browser's stale echoes (AppTest).

While a run is live the browser sends every widget's value four times a second; after the server
rewrites a widget, the old value keeps coming until the new one arrives. These tests send those old
values on purpose and check that the run keeps the rate someone chose."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from playground.ui import echo
from tests.test_app import app, open_page, poll  # noqa: F401


def running(at: AppTest) -> AppTest:
    """A long SGD run at lr 0.01, live."""
    open_page(at, epochs="1000000", optimizer="sgd", lr="0.01", model="mlp")
    at.button(key="start").click().run()
    poll(at, lambda s: "running" in s and "step" in s, "running")
    return at


def run_lr(at: AppTest) -> float:
    return at.session_state["runner"].snapshot(max_points=2).base_lr


def test_the_old_sidebar_value_sent_back_after_a_live_box_change_is_ignored(app: AppTest) -> None:  # noqa: F811
    running(app)
    app.number_input(key="live_lr").set_value(0.02).run()
    poll(app, lambda s: "lr 0.02" in s, "the typed rate")
    assert app.number_input(key="w_lr").value == 0.02  # the sidebar follows the live box
    app.number_input(key="w_lr").set_value(0.01).run()  # the browser had not seen 0.02 yet
    app.select_slider(key="w_lr_slider").set_value(0.01).run()
    assert run_lr(app) == 0.02
    assert app.number_input(key="w_lr").value == 0.02
    assert app.select_slider(key="w_lr_slider").value == 0.02


def test_the_old_live_box_value_sent_back_after_a_sidebar_change_is_ignored(app: AppTest) -> None:  # noqa: F811
    running(app)
    assert app.number_input(key="live_lr").value == 0.01
    app.number_input(key="w_lr").set_value(0.003).run()
    poll(app, lambda s: "lr 3e-03" in s, "the typed rate")
    assert app.number_input(key="live_lr").value == 0.003  # the live box follows the run
    app.number_input(key="live_lr").set_value(0.01).run()  # its old value, sent back
    assert run_lr(app) == 0.003


def test_going_back_to_an_old_rate_later_is_a_real_change(app: AppTest, monkeypatch) -> None:  # noqa: F811
    running(app)
    app.number_input(key="live_lr").set_value(0.02).run()
    poll(app, lambda s: "lr 0.02" in s, "the typed rate")
    monkeypatch.setattr(echo, "ECHO_S", 0.0)  # as if the echo window had passed
    app.number_input(key="w_lr").set_value(0.01).run()
    poll(app, lambda s: "lr 0.01 " in s + " ", "the old rate, chosen again")
    assert run_lr(app) == 0.01
