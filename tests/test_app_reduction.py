"""The loss's reduction in the sidebar: drawn for the losses whose registry entry uses it, with the
config's help line, and carried by the share link (AppTest)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from playground.config import field_spec
from playground.tasks import TASKS
from tests.test_app import app, open_page  # noqa: F401


def has_widget(at: AppTest, key: str) -> bool:
    return any(w.key == key for w in at.selectbox)


def test_the_reduction_is_a_setting_of_the_generate_losses_and_goes_into_the_link(app: AppTest) -> None:  # noqa: F811
    open_page(app, loss="mse")
    box = app.selectbox(key="w_reduction")
    assert box.value == "sum" and box.help == field_spec("reduction")["help"]
    assert "learning rate" in box.help  # says why it moves the LR scale
    assert box.format_func("mean").startswith("mean · averaged over")
    box.set_value("mean").run()
    assert app.session_state["cfg"].reduction == "mean"
    assert app.query_params["reduction"] in ("mean", ["mean"])


@pytest.mark.parametrize("task", list(TASKS))
def test_the_reduction_is_drawn_only_where_the_loss_uses_it(app: AppTest, task: str) -> None:  # noqa: F811
    open_page(app, task=task)
    loss = app.session_state["cfg"].loss
    assert has_widget(app, "w_reduction") == ("reduction" in TASKS[task].losses[loss].uses)


def test_a_classroom_link_that_hides_the_reduction_keeps_it(app: AppTest) -> None:  # noqa: F811
    open_page(app, hide="reduction", reduction="mean", model="pixels")
    assert not has_widget(app, "w_reduction")
    assert app.session_state["cfg"].reduction == "mean"
