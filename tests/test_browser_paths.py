"""The paths lesson in a real Chromium: a click on the map moves the start, and the narrow-valley
race draws one path per contender from the same start. Screenshots land in
tests/_artifacts/paths_*.png (look at them: does SGD zig-zag across the valley while momentum and
Adam take their own ways down?)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.conftest import ARTIFACTS
from tests.test_browser import UI_MS, app, button, open_app, page  # noqa: F401

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.conftest import Server

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("browser_watchdog")]


def shot(page: Page, name: str) -> None:  # noqa: F811
    page.mouse.move(2, 2)
    page.screenshot(path=str(ARTIFACTS / f"paths_{name}.png"), full_page=True)


def test_a_click_moves_the_start_and_the_valley_race_draws_three_paths(
        page: Page, app: Server) -> None:  # noqa: F811
    from playwright.sync_api import expect

    open_app(page, app, "?task=paths&surface=himmelblau&pace=0")
    start_x = page.locator(".st-key-w_start_x input")
    expect(start_x).to_have_value("0", timeout=UI_MS)
    chart = page.locator(".st-key-paths_start_map").locator("canvas, svg").first
    expect(chart).to_be_visible(timeout=UI_MS)
    box = chart.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.8, box["y"] + box["height"] * 0.5)
    expect(start_x).not_to_have_value("0", timeout=UI_MS)
    moved = float(start_x.input_value())
    assert 1.0 < moved < 5.0  # the right half of a map from -5 to 5
    shot(page, "01_clicked_start")

    button(page, "paths_race_setup").click()
    expect(start_x).to_have_value("-4", timeout=UI_MS)  # the valley's start
    expect(page.get_by_role("combobox", name="Surface")).to_be_visible(timeout=UI_MS)
    assert "bowl" in page.get_by_test_id("stSidebar").aria_snapshot()
    page.get_by_role("tab", name="🏁 Compare optimizers").click()
    page.get_by_role("button", name="🏁 Start race").click()
    main = page.get_by_test_id("stMainBlockContainer")
    expect(main.get_by_text("Leaderboard")).to_be_visible(timeout=90_000)
    for name in ("sgd lr=1.9", "sgd lr=0.5 momentum=0.9", "adam lr=0.2"):
        expect(main.get_by_text(name).first).to_be_visible(timeout=UI_MS)
    race_map = main.get_by_test_id("stVegaLiteChart").last
    race_map.scroll_into_view_if_needed()
    expect(race_map.locator("canvas, svg").first).to_be_visible(timeout=UI_MS)
    race_map.screenshot(path=str(ARTIFACTS / "paths_02_valley_race_map.png"))
    shot(page, "02_valley_race")
