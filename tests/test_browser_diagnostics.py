"""A diverged run in a real Chromium: the autopsy names the tensor, the diagnostics panel draws the
gradient norm and the update ratio with its guide band, and the page's screenshot lands in
tests/_artifacts/diagnostics_diverged.png (look at it as a learner would)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.conftest import ARTIFACTS
from tests.test_browser import UI_MS, app, button, open_app, page  # noqa: F401

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.conftest import Server

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("browser_watchdog")]


def test_a_diverged_run_shows_its_autopsy_and_diagnostics(page: Page, app: Server) -> None:  # noqa: F811
    from playwright.sync_api import expect

    open_app(page, app, "?task=line&lr=5e-05&epochs=300&pace=0")
    page.set_viewport_size({"width": 1400, "height": 3000})
    button(page, "start").click()
    autopsy = page.get_by_test_id("stMarkdown").filter(has_text="Autopsy of step").first
    expect(autopsy).to_be_visible(timeout=UI_MS)
    expect(autopsy).to_contain_text("fc.weight")
    expect(page.get_by_text("Green band", exact=False).first).to_be_visible(timeout=UI_MS)
    charts = page.locator('[data-testid="stVegaLiteChart"]:visible')  # (not the closed expanders')
    expect(charts.nth(3)).to_be_visible(timeout=UI_MS)  # line, loss, gradient norm, update ratio
    for n in range(charts.count()):
        expect(charts.nth(n).locator("canvas, svg").first).to_be_visible(timeout=UI_MS)
    expect(page.get_by_role("button", name="Retry at lr 5e-06")).to_be_visible()
    page.mouse.move(2, 2)
    page.screenshot(path=str(ARTIFACTS / "diagnostics_diverged.png"), full_page=True)
