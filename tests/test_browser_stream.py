"""The live stream in a real Chromium: a running run's view fetches its own redraws from the
server's route (playground/ui/stream.py) instead of rerunning the page, hands back to the full
charts when the run ends, and falls back to reruns when the route cannot be reached."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from tests.conftest import ARTIFACTS
from tests.helpers import stays
from tests.test_browser import (  # noqa: F401
    LONG_RUN,
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
STREAM_URL = re.compile(r"/_pp/stream/[\w-]+\?")


def painted(page: Page, selector: str) -> bool:  # noqa: F811
    """Whether a canvas has anything drawn on it (a blank one is all transparent)."""
    return page.evaluate("""(sel) => { const c = document.querySelector(sel);
        if (!c || !c.width) return false;
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        for (let i = 3; i < d.length; i += 4) if (d[i]) return true; return false; }""", selector)


def test_a_running_run_streams_its_view_and_hands_back_when_it_ends(page: Page, app: Server) -> None:  # noqa: F811
    """While the run trains, the status line, the pictures and the painted curves are the
    stream's, and it polls its route again and again; Stop brings back the full, zoomable chart."""
    from playwright.sync_api import expect

    polls: list[str] = []
    page.on("request", lambda r: STREAM_URL.search(r.url) and polls.append(r.url))
    open_app(page, app, LONG_RUN)
    button(page, "start").click()
    stream = page.locator(".pp-stream")
    expect(stream.locator(".pp-status")).to_contain_text("running", timeout=UI_MS)
    expect(stream.locator('img[alt="generated"]')).to_be_visible(timeout=UI_MS)
    wait_for(lambda: painted(page, ".pp-loss"), UI_S, "the loss curve painted")
    seen: set[int] = set()
    wait_for(lambda: seen.add(status(page)[1] or 0) or len(seen) >= 4, UI_S * 2,
             "the stream's status line moving on")
    assert len(polls) >= 3, f"{len(polls)} polls of the stream"
    assert "log_y=1" in polls[-1] and "smoothing=0.6" in polls[-1]
    expect(stream.locator(".pp-diag canvas")).to_have_count(2, timeout=UI_MS)
    page.mouse.move(2, 2)
    page.screenshot(path=str(ARTIFACTS / "browser_stream_running.png"), full_page=True)

    button(page, "stop").click()
    expect(status_line(page)).to_contain_text("stopped", timeout=UI_MS)
    expect(page.locator(".pp-stream")).to_have_count(0, timeout=UI_MS)
    expect(page.get_by_test_id("stVegaLiteChart").first.locator("canvas, svg").first).to_be_visible(
        timeout=UI_MS)
    n = len(polls)
    assert stays(lambda: len(polls) <= n + 1, 1.0), "the stream kept polling after the run ended"


def test_a_run_that_completes_is_drawn_in_full_without_a_click(page: Page, app: Server) -> None:  # noqa: F811
    """The stream sees the run end and tells the page, which redraws the ended run by itself."""
    from playwright.sync_api import expect

    open_app(page, app, "?model=pixels&epochs=300&pace=0")
    button(page, "start").click()
    expect(status_line(page)).to_contain_text("completed", timeout=60_000)
    expect(page.locator(".pp-stream")).to_have_count(0, timeout=UI_MS)
    expect(button(page, "restore_best")).to_be_visible(timeout=UI_MS)


def test_an_unreachable_stream_falls_back_to_reruns(page: Page, app: Server) -> None:  # noqa: F811
    """A proxy that does not pass the route (or another replica answering it): after three failed
    polls the page redraws by reruns, and the run is watched as before."""
    page.route(STREAM_URL, lambda route: route.abort())
    open_app(page, app, LONG_RUN)
    button(page, "start").click()
    wait_for(lambda: page.get_by_test_id("stMarkdown").filter(has_text="running").count(), UI_S * 2,
             "the page's own status line after the fallback")
    first = wait_for(lambda: status(page)[1], UI_S, "a step")
    wait_for(lambda: (status(page)[1] or 0) > first, UI_S, "the step counter moving by reruns")
    assert page.locator(".pp-stream").count() == 0
