"""The learning-rate lesson in a real Chromium: the default run forms over seconds, and every guided
experiment's share link opens with its sentence and shows its phenomenon. Screenshots land in
tests/_artifacts/lesson_*.png (look at them: would a learner see what the sentence says?)."""

from __future__ import annotations

import json
import time
import urllib.parse
from typing import TYPE_CHECKING

import pytest

from playground.charts.common import format_lr
from playground.config import RunConfig
from playground.lessons.experiments import EXPERIMENTS
from playground.ui import echo
from tests.conftest import ARTIFACTS
from tests.test_browser import (  # noqa: F401
    UI_MS,
    UI_S,
    app,
    button,
    open_app,
    page,
    status,
    status_line,
    wait_for,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.conftest import Server

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("browser_watchdog")]
ENDED = ("completed", "diverged", "early stopped", "stopped")


def shot(page: Page, name: str) -> None:  # noqa: F811
    """A full-page screenshot with the mouse off the controls and their tooltips gone."""
    page.mouse.move(2, 2)
    page.get_by_test_id("stTooltipContent").first.wait_for(state="hidden", timeout=UI_MS)
    page.screenshot(path=str(ARTIFACTS / f"lesson_{name}.png"), full_page=True)


def test_the_default_run_forms_its_sprite_over_seconds(page: Page, app: Server) -> None:  # noqa: F811
    """Pressed on the defaults, the run plays at its pace: a learner watches it form for ~25 s.
    The pace is read over the run's first sixth (the whole run completing on the defaults is
    tests/test_lr_regimes.py's, flat out: waiting for its end here cost CI half a minute)."""
    cfg = RunConfig()
    open_app(page, app)
    button(page, "start").click()
    t0 = time.monotonic()
    wait_for(lambda: status(page)[1], UI_S, "the first step")
    first, first_step = time.monotonic() - t0, status(page)[1]
    wait_for(lambda: (status(page)[1] or 0) >= cfg.total_steps // 6, 60, "a sixth of the run")
    seconds, steps = time.monotonic() - t0 - first, status(page)[1] - first_step
    shot(page, "default_forming")
    assert status(page)[0] == "running"
    # the guided experiments' list is drawn when opened (a lazy expander), during the run too
    assert page.locator(".st-key-exp_diverging").count() == 0
    page.get_by_text("Guided experiments: one click, one lesson").click()
    page.locator(".st-key-exp_diverging button").first.wait_for(timeout=UI_MS)
    assert steps / seconds <= 1.5 * cfg.pace  # paced (flat out it would be thousands a second)
    ARTIFACTS.joinpath("lesson_default_timing.json").write_text(json.dumps(
        {"steps": cfg.total_steps, "pace": cfg.pace, "first_step_s": round(first, 2),
         "steps_per_s_seen": round(steps / seconds, 1),
         "run_s_at_that_pace": round(cfg.total_steps * seconds / steps, 1)}))


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_an_experiment_link_opens_with_its_sentence_and_shows_it(
        page: Page, app: Server, name: str) -> None:  # noqa: F811
    from playwright.sync_api import expect

    exp = EXPERIMENTS[name]
    query = {**exp.config().replace(pace=0).to_query(), "title": exp.title, "note": exp.watch}
    open_app(page, app, "?" + urllib.parse.urlencode(query))
    expect(page.get_by_text(exp.watch).first).to_be_visible(timeout=UI_MS)
    button(page, "start").click()
    wait_for(lambda: status(page)[0] in ENDED, 90, f"{name} to end", interval=0.25)
    page.get_by_test_id("stVegaLiteChart").first.locator("canvas, svg").first.wait_for(
        timeout=UI_MS)
    shot(page, name)
    state = status(page)[0]
    assert state == ("diverged" if name == "diverging" else "completed"), state


def test_a_learning_rate_typed_during_a_run_is_applied_every_time(page: Page,  # noqa: F811
                                                                 app: Server) -> None:  # noqa: F811
    """Typed and Enter, never dropped (the live view reruns four times a second meanwhile)."""
    open_app(page, app, "?epochs=100000&pace=0&model=mlp&optimizer=sgd&lr=0.01")
    button(page, "start").click()
    wait_for(lambda: status(page)[0] == "running", UI_S, "the run to be running")
    box = page.locator(".st-key-live_lr input")
    box.wait_for(timeout=UI_MS)
    for value in ("0.02", "0.003", "0.04", "0.005"):
        box.click()
        box.fill(value)
        box.press("Enter")
        wait_for(lambda v=value: f"lr {format_lr(float(v))}" in status_line(page).inner_text(),
                 UI_S, f"lr {value} in the status line")
    from playwright.sync_api import expect

    expect(page.locator(".st-key-w_lr input")).to_have_value("5.00e-3", timeout=UI_MS)  # synced
    # The browser's old values of the sidebar and the box (sent back with every rerun until the
    # new ones arrive) must not set the rate back: it holds for longer than the echo window.
    until = time.monotonic() + echo.ECHO_S + 1
    while time.monotonic() < until:
        line = status_line(page).inner_text()
        assert "lr 5e-03" in line, f"the typed rate did not hold: {line}"
        page.wait_for_timeout(100)  # a sampling interval, not a synchronisation
