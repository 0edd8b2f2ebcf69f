"""Chart zoom in real Chromium: a plain wheel over a chart scrolls the page, Ctrl + wheel zooms
the step axis, a double-click resets it, and the page says so (charts.common.ZOOM_HINT)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from playground.charts.common import ZOOM_HINT
from tests.test_browser import app, button, holds, open_app, page, status, wait_for  # noqa: F401

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("browser_watchdog")]

# Vega's SVG axes describe their scale: "X-axis titled 'step' ... with values from 0 to 24"
X_DOMAIN = """el => [...el.querySelectorAll('g.role-axis')].map(a => a.getAttribute('aria-label') || '')
                    .find(t => t.startsWith('X-axis')) || null"""
SCROLLED = """() => window.scrollY
                      + [...document.querySelectorAll('*')].reduce((s, e) => s + e.scrollTop, 0)"""
RECORD = """() => { window.wheels = [];
                    window.addEventListener('wheel', e => window.wheels.push(e), {capture: true}); }"""
PREVENTED = "() => window.wheels.map(e => e.defaultPrevented)"


def x_domain(chart: Locator) -> str:
    return chart.evaluate(X_DOMAIN)


def wheel_over(tab: Page, chart: Locator, dx: float, dy: float, key: str | None = None) -> None:
    """Turn the wheel with the pointer over the chart's middle, optionally holding a key."""
    chart.scroll_into_view_if_needed()
    box = chart.bounding_box()
    tab.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    if key:
        tab.keyboard.down(key)
    tab.mouse.wheel(dx, dy)
    if key:
        tab.keyboard.up(key)


def test_the_wheel_scrolls_the_page_and_ctrl_wheel_zooms_the_chart(page: Page, app) -> None:  # noqa: F811
    open_app(page, app, "?task=classify&epochs=3&samples=120&pace=0")
    button(page, "start").click()
    wait_for(lambda: status(page)[0] in ("completed", "early stopped"), 30, "the run to end")
    chart = page.get_by_test_id("stVegaLiteChart").first
    wait_for(lambda: x_domain(chart), 15, "the loss chart's x axis")
    start = x_domain(chart)
    assert page.get_by_text(ZOOM_HINT).first.is_visible()
    page.evaluate(RECORD)

    before = page.evaluate(SCROLLED)
    wheel_over(page, chart, 0, 300)
    wait_for(lambda: page.evaluate(SCROLLED) > before, 5, "the page to scroll")
    assert holds(lambda: x_domain(chart) == start, 0.5), "a plain wheel zoomed the chart"

    wheel_over(page, chart, 300, 0, "Shift")  # what Chrome sends for Shift + wheel: deltaX only
    assert holds(lambda: x_domain(chart) == start, 0.5)

    wheel_over(page, chart, 0, -300, "Control")
    wait_for(lambda: x_domain(chart) != start, 5, "Ctrl + wheel to zoom the steps")
    assert page.evaluate(PREVENTED)[-1], "Ctrl + wheel over a chart would also zoom the page"
    chart.dblclick()
    wait_for(lambda: x_domain(chart) == start, 5, "a double-click to reset the zoom")
