"""A killed browser costs only its own test: the next browser-using step gets a fresh Chromium.

The watchdog (tests/conftest.py) kills Chromium when a frozen page never answers Playwright; before
`Browsers.live()` every later test of the module then failed with "the browser is gone". These
tests freeze a page for real (a JavaScript busy loop: the renderer never answers, so the call only
returns when its browser dies) and let the watchdog's own kill end it. No sleeps: the stuck call
itself is the synchronisation, and the short deadline only decides when the kill comes.
"""

from __future__ import annotations

import re
import textwrap
from typing import TYPE_CHECKING

import pytest

from tests.conftest import ROOT, Browsers, Watchdog

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = pytest.mark.browser
pytest_plugins = ["pytester"]

TITLED = "data:text/html,<title>alive</title>"
FREEZE = "() => { while (true) {} }"  # the renderer's main thread never comes back


def title_in(browser: Browser) -> str:
    """Open a page in a fresh context of `browser` and read its title."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(TITLED)
        return page.title()
    finally:
        context.close()


def test_after_the_watchdog_kills_a_frozen_page_the_next_step_gets_a_fresh_browser(
        browsers: Browsers) -> None:
    from playwright.sync_api import Error

    first = browsers.live()
    launches = browsers.launches
    assert title_in(first) == "alive"
    assert browsers.live() is first  # a live browser is kept, not relaunched per test

    page = first.new_context().new_page()
    page.goto(TITLED)
    with Watchdog(0.5) as dog, pytest.raises(Error):
        page.evaluate(FREEZE)  # returns only by failing, once the watchdog killed the browser
    assert dog.fired.is_set()
    # the evidence it leaves: the stuck line and call, and the renderer spinning in its loop
    assert re.match(r"stuck at test_browser_recovery\.py:\d+ test_after_the_watchdog\w+ "
                    r"\(page\.evaluate\(FREEZE\).*\), waiting in Playwright's evaluate\(\); "
                    r"Chromium CPU over the last 1 s: renderer \d+ \(\w\) \d+%", dog.report), dog.report

    second = browsers.live()  # what the next test's `chromium` fixture does
    assert second is not first and browsers.launches == launches + 1
    assert not first.is_connected()
    assert title_in(second) == "alive"


def test_a_killed_browser_fails_only_its_own_test(pytester: pytest.Pytester) -> None:
    """The same through pytest and the real fixtures: a test whose page froze fails (its call
    raises, and the watchdog's teardown says why), and the test after it passes."""
    pytester.makeconftest(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        import tests.conftest as shared
        from tests.conftest import browser_watchdog, browsers, chromium  # noqa: F401

        shared.BROWSER_TEST_DEADLINE = 2.0
    """))
    pytester.makepyfile(test_inner=textwrap.dedent(f"""
        def test_freezes(chromium):
            page = chromium.new_page()
            page.evaluate({FREEZE!r})

        def test_after_it(chromium):
            page = chromium.new_page()
            page.goto({TITLED!r})
            assert page.title() == "alive"
    """))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rA",
                                           "--rootdir", str(pytester.path), timeout=120)
    result.assert_outcomes(passed=1, failed=1, errors=1)
    result.stdout.fnmatch_lines(["*the test was still running after 2 s, so its browser was killed*"
                                 "stuck at test_inner.py:3 test_freezes (page.evaluate(*)), "
                                 "waiting in Playwright's evaluate(); Chromium CPU*renderer*",
                                 "PASSED test_inner.py::test_after_it"])
