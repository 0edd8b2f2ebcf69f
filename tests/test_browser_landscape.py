"""The loss landscape of a classify run in a real Chromium: a finished run, Compute, the contour map
with the path and the slice along the next step. Screenshots land in tests/_artifacts/landscape_*.png
(look at them: does the path run downhill to the centre, and does the slice say what the step did?)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.conftest import ARTIFACTS
from tests.test_browser import UI_MS, app, button, open_app, page, status_line  # noqa: F401

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.conftest import Server

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("browser_watchdog")]


def test_a_classify_runs_landscape_draws_the_map_and_the_slice(page: Page, app: Server) -> None:  # noqa: F811
    from playwright.sync_api import expect

    open_app(page, app, "?task=classify&samples=300&epochs=8&patience=0&pace=0")
    button(page, "start").click()
    expect(status_line(page)).to_contain_text("completed", timeout=120_000)
    main = page.get_by_test_id("stMainBlockContainer")
    main.get_by_text("Loss landscape around these weights").click()
    button(page, "land_start").click()
    expect(main.get_by_text("The loss around step")).to_be_visible(timeout=180_000)
    expander = page.get_by_test_id("stExpander").filter(has_text="Loss landscape around").first
    charts = expander.get_by_test_id("stVegaLiteChart")
    expect(charts).to_have_count(2, timeout=UI_MS)
    for i in range(2):
        expect(charts.nth(i).locator("canvas, svg").first).to_be_visible(timeout=UI_MS)
    expect(expander.get_by_text("Directions: the path's top two principal")).to_be_visible()
    page.set_viewport_size({"width": 1400, "height": 2400})  # the whole expander in view
    expander.scroll_into_view_if_needed()
    page.mouse.move(2, 2)
    expander.screenshot(path=str(ARTIFACTS / "landscape_01_classify.png"))
