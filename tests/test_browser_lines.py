"""Stepping by line in a real Chromium: five presses of "Line ▸" walk through one iteration, and a
screenshot of the loop panel after each lands in tests/_artifacts/lines_<model>_<n>_<line>.png
(look at them: does a learner see what each line did?)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from playground.loop_lines import LINES
from tests.conftest import ARTIFACTS
from tests.test_browser import UI_MS, UI_S, app, button, open_app, page, wait_for  # noqa: F401

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.conftest import Server

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("browser_watchdog")]
STATEMENTS = ["optimizer.zero_grad", "output = model(x)", "loss = criterion", "loss.backward()",
              "optimizer.step()"]


@pytest.mark.parametrize("model", ["coord", "pixels"])
def test_five_presses_walk_through_one_iteration(page: Page, app: Server, model: str) -> None:  # noqa: F811
    open_app(page, app, f"?model={model}&sprite=heart&size=16&batch_size=64&optimizer=adam&pace=0")
    page.set_viewport_size({"width": 1400, "height": 2600})  # the main area scrolls inside the
    panel = page.locator(".st-key-loop_panel")  # page: tall enough that the panel is drawn whole
    for n, (name, statement) in enumerate(zip(LINES, STATEMENTS, strict=True), start=1):
        button(page, "line_step").click()
        ran = panel.locator(".ran").first
        wait_for(lambda statement=statement, ran=ran: ran.count() and statement in ran.inner_text(),
                 UI_S * 2, f"line {name} highlighted")
        assert "step 1" in panel.inner_text(timeout=UI_MS)
        panel.locator("img").last.wait_for(timeout=UI_MS)
        if name in ("backward", "step") and model == "coord":  # the per-layer bars are drawn
            panel.get_by_test_id("stVegaLiteChart").first.locator("canvas, svg").first.wait_for(
                timeout=UI_MS)
        page.mouse.move(2, 2)
        panel.screenshot(path=str(ARTIFACTS / f"lines_{model}_{n}_{name}.png"))
    assert "step 1 /" in page.get_by_test_id("stMarkdown").filter(has_text="paused").first.inner_text()
