"""Tune in a real Chromium: a live study's table and charts fill in, Stop keeps its trials, and Use
the best loads the best trial into the sidebar. Screenshot: tests/_artifacts/browser_tune_live.png
(look at it: can a learner read which settings won, and why?)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from tests.test_browser import (  # noqa: F401
    UI_MS,
    UI_S,
    app,
    button,
    open_app,
    page,
    shot,
    wait_for,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.conftest import Server

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("browser_watchdog")]
TRIALS_RE = re.compile(r"^(\d+) trials: ")


def trials_shown(page: Page) -> int:  # noqa: F811
    """How many trials the study's caption counts now (0 before the first)."""
    captions = page.get_by_test_id("stCaptionContainer").filter(has_text=TRIALS_RE)
    if captions.count() == 0:
        return 0
    return int(TRIALS_RE.search(captions.first.inner_text(timeout=UI_MS)).group(1))


def test_a_live_study_fills_in_and_use_the_best_loads_it(page: Page, app: Server) -> None:  # noqa: F811
    from playwright.sync_api import expect

    open_app(page, app, "?model=mlp&size=8&epochs=1500&optimizer=sgd&lr=0.05")
    page.get_by_role("tab", name="🏁 Compare optimizers").click()
    main = page.get_by_test_id("stMainBlockContainer")
    trials = main.get_by_label("Trials")
    trials.fill("40")
    trials.press("Enter")
    expect(trials).to_have_value("40", timeout=UI_MS)
    button(page, "tune_start").click()
    wait_for(lambda: trials_shown(page) >= 6, 120, "six trials in the live study")
    expect(button(page, "tune_stop")).to_be_enabled(timeout=UI_MS)  # still running
    expect(main.get_by_text(re.compile(r"^trial \d+: epoch [\d,]+ of 1,500"))).to_be_visible(
        timeout=UI_MS)
    charts = main.locator(".st-key-tune_use").or_(main.get_by_test_id("stVegaLiteChart"))
    expect(charts.first).to_be_visible(timeout=UI_MS)
    expect(main.get_by_text(re.compile(r"^Best: trial \d+"))).to_be_visible(timeout=UI_MS)
    main.get_by_text(re.compile(r"^trial \d+: epoch")).evaluate(
        "e => e.scrollIntoView({block: 'start'})")  # the progress, charts, table and best in view
    shot(page, "tune_live")

    button(page, "tune_stop").click()
    expect(button(page, "tune_start")).to_be_enabled(timeout=30_000)
    kept = trials_shown(page)
    assert 6 <= kept < 40
    button(page, "tune_use").click()
    expect(main.get_by_text("Loaded the best trial's")).to_be_visible(timeout=UI_MS)
