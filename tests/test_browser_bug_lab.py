"""The bug lab in a real Chromium: forgetting zero_grad, raced against the correct loop from the
same weights. Screenshot: tests/_artifacts/browser_bug_lab.png (look at it: does a learner see the
wrong line, the right one, and the gradient norm climbing with the batch index?)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from tests.test_browser import (  # noqa: F401
    UI_MS,
    app,
    button,
    open_app,
    page,
    shot,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.conftest import Server

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("browser_watchdog")]


def test_the_bug_lab_races_a_forgotten_zero_grad(page: Page, app: Server) -> None:  # noqa: F811
    from playwright.sync_api import expect

    open_app(page, app, "?task=classify&samples=200&epochs=4")
    page.get_by_role("tab", name="🏁 Compare optimizers").click()
    main = page.get_by_test_id("stMainBlockContainer")
    lab = main.get_by_text("optimizer.zero_grad()", exact=False).first
    lab.scroll_into_view_if_needed(timeout=UI_MS)
    expect(lab).to_be_visible(timeout=UI_MS)  # the default mistake: the wrong line is shown
    button(page, "bug_lab_start").click()
    measured = main.get_by_text(re.compile(r"gradient norm: correct .* buggy"))
    expect(measured).to_be_visible(timeout=120_000)
    charts = main.get_by_test_id("stVegaLiteChart")
    expect(charts.last).to_be_visible(timeout=UI_MS)
    button(page, "bug_lab_start").evaluate("e => e.scrollIntoView({block: 'start'})")
    page.mouse.wheel(0, -260)  # the picker and the code panel above the button, in view
    shot(page, "bug_lab")
