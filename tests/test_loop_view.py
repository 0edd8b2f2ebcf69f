"""The by-line view on the page: the code panel is train.py's own lines, the colours say the sign,
and pressing "Line ▸" five times walks the highlight through one iteration (AppTest)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from playground import RunConfig
from playground.charts import loop as charts
from playground.export import train_script
from playground.export.loop_panel import BACKWARD, CLIP, LOSS, STEP, ZERO_GRAD, panel_lines
from playground.loop_lines import LINES
from tests.helpers import wait_until

CONFIGS = [RunConfig(model="coord", schedule="cosine", clip_grad_norm=1.0),
           RunConfig(model="pixels", reduction="mean"),
           RunConfig(task="classify", model="mlp", loss="ce", schedule="plateau"),
           RunConfig(task="line", model="linear", optimizer="sgd")]


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"{c.task}-{c.model}")
def test_the_panel_shows_the_exported_scripts_own_lines(cfg: RunConfig) -> None:
    script = train_script(cfg, np.zeros((cfg.size, cfg.size, 4), np.uint8))
    lines = panel_lines(cfg)
    assert [i for _, i in lines if i is not None][:4] == [0, 1, 2, 3]
    assert {i for _, i in lines if i is not None} == set(range(len(LINES)))
    head = [t for t, _ in lines if t.startswith(("criterion = ", "optimizer = ", "model = "))]
    loop = [t.strip() for t, i in lines if i is not None]  # the five lines (and clip, schedule)
    for text in head + loop:
        statement = text.split("  #")[0]
        if statement in (LOSS.split("  #")[0], "output = model(x)"):
            continue  # train.py writes these two as one: loss = criterion(model(x), y)
        bare = statement.split(" = ", 1)[-1]  # a lesson's script writes self.optimizer = ...
        assert statement in script or bare in script or \
            statement.replace("optimizer.", "self.optimizer.") in script, statement
    assert re.search(r"criterion\(self.model\(x\), y\)|criterion\(model\(x\), y\)", script)
    for statement in (ZERO_GRAD, BACKWARD.split("  #")[0], STEP.split("  #")[0]):
        assert statement in "\n".join(t for t, _ in lines)
    assert (CLIP in "\n".join(t for t, _ in lines)) == (cfg.clip_grad_norm > 0)


def test_colours_are_diverging_around_zero_and_grey_where_missing() -> None:
    values = np.array([[-2.0, 0.0, 2.0, np.nan]])
    rgba = charts.colours(values)
    assert tuple(rgba[0, 1, :3]) == (255, 255, 255)  # zero is white
    assert rgba[0, 0, 2] > rgba[0, 0, 0]  # negative is blue
    assert rgba[0, 2, 0] > rgba[0, 2, 2]  # positive is red
    assert tuple(rgba[0, 3, :3]) == (224, 224, 224)
    blank = charts.colours(np.zeros((3, 3)))
    assert (blank[..., :3] == 255).all()  # a cleared gradient is a blank map
    assert charts.scale_of(values) == 2.0


# The page ------------------------------------------------------------------------------------
def panel(at: AppTest) -> tuple[str, str, str]:
    """(the highlighted line's code, the next line's code, the counters) of the loop panel."""
    body = next((h.proto.body for h in at.get("html") if "loop-code" in h.proto.body), "")
    ran = re.search(r'class="ran"[^>]*>(.*?)</div>', body)
    upcoming = re.search(r'class="next"[^>]*>(.*?)</div>', body)
    counters = next((m.value for m in at.markdown if m.value.startswith("**The loop")), "")
    return (ran.group(1) if ran else "", upcoming.group(1) if upcoming else "", counters)


@pytest.fixture
def page():
    at = AppTest.from_file("../app.py", default_timeout=60)
    for key, value in {"model": "coord", "size": "8", "batch_size": "16", "pace": "0"}.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, at.exception
    yield at
    runner = at.session_state["runner"] if "runner" in at.session_state else None  # noqa: SIM401
    if runner is not None:
        runner.stop(wait=True)
        assert runner.join(5)


def test_pressing_line_five_times_walks_through_one_iteration(page: AppTest) -> None:
    assert page.button(key="line_step").disabled is False
    expected = ["optimizer.zero_grad", "output = model(x)", "loss = criterion", "loss.backward()",
                "optimizer.step()"]
    for k, statement in enumerate(expected):
        page.button(key="line_step").click().run()

        def shown(statement: str = statement) -> tuple | None:
            page.run()
            assert not page.exception, page.exception
            ran, upcoming, counters = panel(page)
            return statement in ran and (ran, upcoming, counters)

        ran, upcoming, counters = wait_until(shown, timeout=30, interval=0.05, what=statement)
        assert "epoch 1 · batch 1 of 4 · step 1" in counters
        assert expected[(k + 1) % 5] in upcoming  # the next line is marked
        assert "just ran" in ran
    status = next(m.value for m in page.markdown if m.value.startswith("⏸"))
    assert "step 1 /" in status  # the fifth line took the optimizer step
    html = " ".join(h.proto.body for h in page.get("html"))
    assert "exp_avg_sq" in html and "new − old" in html  # Adam's state and the update, drawn
    assert len(page.get("vega_lite_chart")) >= 2  # loss curve and the update/weight bars
    page.button(key="line_step").click().run()  # the next iteration starts at its second batch
    wait_until(lambda: page.run() and False or "batch 2 of 4 · step 2" in panel(page)[2],
               timeout=30, interval=0.05, what="the second batch")


def test_lbfgs_disables_the_line_button_with_its_reason() -> None:
    at = AppTest.from_file("../app.py", default_timeout=60)
    at.query_params["optimizer"] = "lbfgs"
    at.run()
    button = at.button(key="line_step")
    assert button.disabled and "LBFGS" in button.help
