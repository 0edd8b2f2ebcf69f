"""The real app (`streamlit run app.py`) in headless Chromium: the flows a user actually clicks.

One server per module; each test opens its own browser context (its own Streamlit session) and
closes it at the end, so a test's run ends with its session. Every wait is a Playwright
expectation or a poll with a deadline. Screenshots land in tests/_artifacts/browser_*.png.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import pytest

from playground.config import RunConfig
from tests.conftest import ARTIFACTS, ROOT, Server
from tests.helpers import stays, wait_until

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("browser_watchdog")]

T = TypeVar("T")
FIRST_LOAD_MS = 90_000  # the first page of a fresh server waits for the PyTorch warm-up
UI_MS = 15_000  # a click's rerun, on a slow 2-core CI box (Playwright counts milliseconds)
UI_S = UI_MS / 1000  # the same for wait_for, which counts seconds
STATES = r"idle|ready|starting|queued|running|paused|completed|diverged|early stopped|stopped|error"
STATUS_RE = re.compile(rf"^\W*\s*({STATES})\b")  # "🟢 running · step 1,234 / 200,000 · …"
STEP_RE = re.compile(r"step ([\d,]+) / ([\d,]+)")
LONG_RUN = "?model=mlp&epochs=200000&pace=0"  # still running long after a test has looked at it
VIEWPORT = {"width": 1400, "height": 1200}  # the main area scrolls inside the page: tall enough

# The app's own INFO lines (logger "playground.*") reach no handler under plain
# `python -m streamlit run`: Streamlit's --logger.level only configures Streamlit's loggers. This
# bootstrap is `python -m streamlit` plus a handler on "playground", so the server log shows them.
BOOT = """
import logging, runpy, sys
handler = logging.StreamHandler()
handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
app_log = logging.getLogger("playground")
app_log.addHandler(handler)
app_log.setLevel(logging.INFO)
sys.argv[0] = "streamlit"
runpy.run_module("streamlit", run_name="__main__", alter_sys=True)
"""


def wait_for(pred: Callable[[], T | None], timeout: float, what: str, interval: float = 0.05) -> T:
    """pred()'s first truthy value, or fail after `timeout` seconds (the shared poller)."""
    return wait_until(pred, timeout=timeout, interval=interval, what=what)


def holds(pred: Callable[[], bool], duration: float, interval: float = 0.05) -> bool:
    """True if pred() is true at every poll for `duration` seconds (to show nothing moves)."""
    return stays(pred, duration, interval)


# --- fixtures -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def app(serve_streamlit: Callable[..., Server]) -> Server:
    """The real app, with a 1 s grace for runs whose tab closed (the default is 30 s)."""
    return serve_streamlit(ROOT / "app.py", cwd=ROOT, python=["-c", BOOT],
                           env={"PLAYGROUND_SESSION_GRACE": "1"})


@pytest.fixture
def page(chromium: Browser, app: Server) -> Iterator[Page]:
    """A fresh tab in its own context (its own session); closed afterwards, which ends its run."""
    context = chromium.new_context(viewport=VIEWPORT)
    try:
        yield context.new_page()
    finally:
        context.close()


# --- page helpers -------------------------------------------------------------------------------

def open_app(page: Page, app: Server, query: str = "") -> None:
    """Load the app and wait until the run controls are drawn."""
    from playwright.sync_api import expect

    page.goto(app.url + query)
    expect(button(page, "start")).to_be_visible(timeout=FIRST_LOAD_MS)


def button(page: Page, key: str) -> Locator:
    """A keyed st.button (a button with help is in the DOM twice; only one is in the a11y tree)."""
    return page.locator(f".st-key-{key}").get_by_role("button")


def status_line(page: Page) -> Locator:
    """The live status line: state, step, epoch, loss, lr, speed (while a run trains, the live
    stream's own line: playground/ui/stream.py)."""
    return page.locator(".pp-status, [data-testid=stMarkdown]").filter(has_text=STATUS_RE).first


def status(page: Page) -> tuple[str, int | None, int | None]:
    """(state, step, total steps) as the status line shows them now."""
    text = status_line(page).inner_text(timeout=UI_MS)
    state = STATUS_RE.search(text)
    steps = STEP_RE.search(text)
    assert state, f"no state in status line {text!r}"
    if steps is None:
        return state.group(1), None, None
    return state.group(1), int(steps.group(1).replace(",", "")), int(steps.group(2).replace(",", ""))


def step_now(page: Page) -> int | None:
    return status(page)[1]


def target_img(page: Page) -> Locator:
    """The live view's target picture."""
    return page.locator('img[alt="target"]').first


def thumbnail(page: Page, name: str) -> Locator:
    """A gallery thumbnail (the sprite at its native size, which for the built-ins used here is the
    default training size: so it is exactly what the target must show)."""
    return page.get_by_role("button", name=f"Train on {name}").locator("img")


def shown_pixels(img: Locator) -> np.ndarray:
    """Decode an <img>'s PNG data URI into RGBA pixels."""
    from PIL import Image

    src = img.get_attribute("src", timeout=UI_MS) or ""
    head, _, data = src.partition(",")
    assert head == "data:image/png;base64", f"not a PNG data URI: {src[:40]!r}"
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGBA"))


def loss_chart(page: Page) -> Locator:
    """The drawn loss curve: the live stream's canvas while a run trains, else Vega-Lite's (a
    canvas or an svg once its code has loaded)."""
    vega = page.get_by_test_id("stVegaLiteChart").first.locator("canvas, svg").first
    return page.locator(".pp-loss").or_(vega).first


def shot(page: Page, name: str) -> None:
    """A full-page screenshot, with the mouse moved off the buttons and their tooltips gone."""
    page.mouse.move(2, 2)
    page.get_by_test_id("stTooltipContent").first.wait_for(state="hidden", timeout=UI_MS)
    page.screenshot(path=str(ARTIFACTS / f"browser_{name}.png"), full_page=True)


# --- tests --------------------------------------------------------------------------------------
# test_closing_the_tab_ends_the_run comes first on purpose: it reads the shared server log, and
# no other test's run may be ending (after its own tab closed) while it looks.

def test_closing_the_tab_ends_the_run(chromium: Browser, app: Server) -> None:
    context = chromium.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        open_app(page, app, LONG_RUN)
        button(page, "start").click()
        wait_for(lambda: status(page)[0] == "running" and step_now(page), UI_S, "a running run")
        seen = len(app.log_text())
        page.close()
    finally:
        context.close()

    def session_ended() -> re.Match | None:
        return re.search(r"run (\d+) stopped: its session ended", app.log_text()[seen:])

    try:
        run = wait_for(session_ended, 20, "'stopped: its session ended' in the server log").group(1)
        ended = wait_for(lambda: re.search(rf"run {run} ended: (\w+) after (\d+) steps",
                                           app.log_text()[seen:]), 10, f"'run {run} ended:'")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- server log ---\n{app.log_text()}") from None
    assert ended.group(1) == "stopped" and int(ended.group(2)) > 0


def test_start_pause_step_stop(page: Page, app: Server) -> None:
    """The core flow: Start trains (the counter climbs, the loss chart appears), Pause holds the
    step count, Step adds exactly one, Stop ends the run and keeps its step."""
    from playwright.sync_api import expect

    open_app(page, app, LONG_RUN)
    expect(status_line(page)).to_contain_text("idle")
    assert page.get_by_test_id("stVegaLiteChart").count() == 0  # no curve before a run
    expect(button(page, "pause")).to_be_disabled()
    shot(page, "01_loaded")

    button(page, "start").click()
    first = wait_for(lambda: step_now(page), UI_S, "a step counter in the status line")
    later = wait_for(lambda: (s := step_now(page)) is not None and s > first and s, UI_S,
                     f"the step counter to pass {first}")
    state, _, total = status(page)
    assert later > first and total == 200_000 and state == "running"
    expect(page.locator(".pp-loss")).to_be_visible(timeout=UI_MS)  # the live stream's curve
    expect(page.locator('img[alt="generated"]').first).to_be_visible()
    expect(button(page, "pause")).to_be_enabled(timeout=UI_MS)
    expect(button(page, "stop")).to_be_enabled(timeout=UI_MS)
    shot(page, "02_running")

    button(page, "pause").click()
    wait_for(lambda: status(page)[0] == "paused", UI_S, "the paused state")
    held = step_now(page)
    assert held is not None and held >= later
    seen: list[tuple] = []
    assert holds(lambda: seen.append(status(page)) or seen[-1][:2] == ("paused", held), 1.0), \
        f"the step counter moved while paused: held {held}, then {seen[-1]}"
    expect(button(page, "resume")).to_have_text("Resume", timeout=UI_MS)
    shot(page, "03_paused")

    button(page, "step").click()
    moved = wait_for(lambda: (s := step_now(page)) is not None and s != held and s, UI_S,
                     f"the step counter to leave {held} after one Step")
    assert moved == held + 1, f"one Step took the run from step {held} to {moved}"
    assert holds(lambda: status(page)[:2] == ("paused", held + 1), 0.75), "Step did more than one step"

    button(page, "stop").click()
    wait_for(lambda: status(page)[0] == "stopped", UI_S, "the stopped state")
    assert step_now(page) == held + 1
    expect(button(page, "stop")).to_be_disabled(timeout=UI_MS)
    shot(page, "04_stopped")


def test_gallery_thumbnail_becomes_the_target(page: Page, app: Server) -> None:
    from playwright.sync_api import expect

    open_app(page, app)
    target = target_img(page)
    expect(target).to_be_visible(timeout=UI_MS)
    before = target.get_attribute("src")
    assert np.array_equal(shown_pixels(target), shown_pixels(thumbnail(page, "heart")))

    mushroom = page.get_by_role("button", name="Train on mushroom")
    expect(mushroom).to_have_attribute("aria-pressed", "false", timeout=UI_MS)
    mushroom.click()
    expect(target).not_to_have_attribute("src", before or "", timeout=UI_MS)
    assert np.array_equal(shown_pixels(target), shown_pixels(thumbnail(page, "mushroom")))
    expect(mushroom).to_have_attribute("aria-pressed", "true", timeout=UI_MS)
    expect(page).to_have_url(re.compile(r"[?&]sprite=mushroom\b"), timeout=UI_MS)
    shot(page, "05_gallery_mushroom")


def test_drawing_a_pixel_makes_a_custom_target(page: Page, app: Server) -> None:
    from playwright.sync_api import expect

    open_app(page, app)
    target = target_img(page)
    expect(target).to_be_visible(timeout=UI_MS)
    before = target.get_attribute("src")
    heart = shown_pixels(target)
    assert heart.shape == (16, 16, 4) and np.array_equal(heart, shown_pixels(thumbnail(page, "heart")))
    y, x = np.argwhere(heart[..., 3] == 0)[0]  # a transparent cell, so painting it changes it

    page.get_by_role("tab", name="✏️ Draw").click()
    canvas = page.locator(".st-key-editor .pe canvas")  # in the component's open shadow root
    expect(canvas).to_be_visible(timeout=UI_MS)
    page.locator('.pe-swatch[data-color="29adffff"]').click()
    box = canvas.bounding_box()
    assert box is not None and box["width"] > 0
    cell = box["width"] / 16
    page.mouse.click(box["x"] + (x + 0.5) * cell, box["y"] + (y + 0.5) * cell)

    expect(target).not_to_have_attribute("src", before or "", timeout=UI_MS)
    expect(page).to_have_url(re.compile(r"[?&]sprite=custom\b"), timeout=UI_MS)
    shown = shown_pixels(target)
    assert tuple(shown[y, x]) == (0x29, 0xAD, 0xFF, 255)
    changed = np.argwhere((shown != heart).any(axis=2)).tolist()
    assert changed == [[y, x]], f"expected only cell {(x, y)} to change, got {changed}"
    shot(page, "06_drawn_pixel")


def test_divergence_shows_the_step_and_a_remedy(page: Page, app: Server) -> None:
    from playwright.sync_api import expect

    open_app(page, app, "?model=mlp&optimizer=sgd&lr=1000&epochs=500")
    button(page, "start").click()
    error = page.get_by_test_id("stAlertContentError").filter(has_text="diverged at step").first
    expect(error).to_be_visible(timeout=UI_MS)
    expect(error).to_contain_text("10x lower")
    expect(status_line(page)).to_contain_text("diverged", timeout=UI_MS)
    chart = page.get_by_test_id("stVegaLiteChart").first
    expect(chart.locator("canvas, svg").first).to_be_visible(timeout=UI_MS)  # before the picture
    shot(page, "07_diverged")


def test_malformed_share_link_warns_and_falls_back_to_defaults(page: Page, app: Server) -> None:
    from playwright.sync_api import expect

    open_app(page, app, "?lr=nan&optimizer=bogus&size=99999&junk=1")
    warning = page.get_by_test_id("stAlertContentWarning").first
    expect(warning).to_contain_text("defaults stand in", timeout=UI_MS)
    for part in ("lr: nan is not allowed", "optimizer: 'bogus' is not allowed",
                 "size: 99999 is not allowed", "unknown key 'junk' ignored"):
        expect(warning).to_contain_text(part)
    expect(page).to_have_url(app.url, timeout=UI_MS)  # all defaults: the share link is bare
    expect(page.get_by_role("combobox", name="Optimizer")).to_have_value(re.compile(r"^adam\b"))
    expect(page.locator(".st-key-w_lr input")).to_have_value("1.00e-3")
    expect(page.locator(".st-key-w_size input")).to_have_value("16")
    shot(page, "08_bad_link")

    button(page, "start").click()  # the defaults train: the heart, played at the default pace
    steps = RunConfig().total_steps  # (the whole default run: test_browser_lessons.py)
    wait_for(lambda: (status(page)[1] or 0) >= 60, UI_S, "a second of the default run")
    assert status(page)[0] == "running" and status(page)[2] == steps
    button(page, "stop").click()
    wait_for(lambda: status(page)[0] == "stopped", UI_S, "the run to stop")


def test_classify_lesson_trains_with_validation_and_confusion(page: Page, app: Server) -> None:
    from playwright.sync_api import expect

    open_app(page, app, "?task=classify&samples=120&epochs=4&patience=0")
    button(page, "start").click()
    expect(status_line(page)).to_contain_text("completed", timeout=90_000)
    main = page.get_by_test_id("stMainBlockContainer")
    expect(main.get_by_text("validation accuracy").first).to_be_visible(timeout=UI_MS)
    expect(main.get_by_text("Confusion matrix").first).to_be_visible(timeout=UI_MS)
    charts = page.get_by_test_id("stVegaLiteChart")
    expect(charts.nth(2)).to_be_visible(timeout=UI_MS)  # batches/epochs, accuracy, confusion
    shot(page, "09_classify")


def test_race_shows_every_contender_and_a_leaderboard(page: Page, app: Server) -> None:
    from playwright.sync_api import expect

    open_app(page, app, "?model=pixels&epochs=80")
    page.get_by_role("tab", name="🏁 Compare optimizers").click()
    page.get_by_role("button", name="🏁 Start race").click()
    main = page.get_by_test_id("stMainBlockContainer")
    expect(main.get_by_text("Leaderboard")).to_be_visible(timeout=90_000)
    for name in ("sgd lr=0.1 ", "adam lr=0.01"):
        expect(main.locator(f'img[alt^="{name}"]').first).to_be_visible(timeout=UI_MS)
    race_chart = main.get_by_test_id("stVegaLiteChart").first.locator("canvas, svg").first
    expect(race_chart).to_be_visible(timeout=UI_MS)
    expect(main.get_by_text("None")).to_have_count(0)  # no raw NA in the leaderboard
    shot(page, "10_race")


def test_server_restart_reconnects_with_the_link_settings(
        chromium: Browser, serve_streamlit: Callable[..., Server], free_port: int) -> None:
    """The server process dies mid-run and a fresh one starts on the same port. Streamlit's page
    reconnects by itself to a new session (the old one died with its process): the settings come
    back from the address bar (the share link the app keeps current), the dead run is gone rather
    than stuck at "running", nothing errs, and Start trains again. Its own two servers: killing
    the shared `app` server would break the other tests."""
    from playwright.sync_api import expect

    def serve() -> Server:
        return serve_streamlit(ROOT / "app.py", cwd=ROOT, python=["-c", BOOT], port=free_port)

    def settings_shown(page: Page) -> None:
        expect(page).to_have_url(re.compile(r"\?optimizer=sgd&lr=0\.05&momentum=0\.9&epochs=200000$"),
                                 timeout=UI_MS)
        expect(page.get_by_role("combobox", name="Optimizer")).to_have_value(re.compile(r"^sgd\b"))
        expect(page.locator(".st-key-w_lr input")).to_have_value("5.00e-2")
        expect(page.locator(".st-key-w_momentum input")).to_have_value("0.900")

    first = serve()
    context = chromium.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        open_app(page, first, "?optimizer=sgd&lr=0.05&epochs=200000")
        momentum = page.locator(".st-key-w_momentum input")  # a change the link did not carry:
        momentum.fill("0.9")  # the app writes it into the address bar
        momentum.press("Enter")
        settings_shown(page)
        button(page, "start").click()
        wait_for(lambda: status(page)[0] == "running" and step_now(page), UI_S, "a running run")
        # the curve drawn: a page whose first chart's JavaScript is still loading when the server
        # dies shows "Failed to fetch dynamically imported module" instead of every chart until it
        # is reloaded (Streamlit's frontend caches the failed import; docs/reliability.md)
        expect(loss_chart(page)).to_be_visible(timeout=UI_MS)

        first.proc.kill()  # the process dies: no shutdown, its sessions and training thread gone
        first.proc.wait(timeout=10)
        expect(button(page, "start")).to_be_disabled(timeout=UI_MS)  # the page noticed
        second = serve()  # same port: the page's own reconnect finds it

        expect(status_line(page)).to_contain_text("idle", timeout=FIRST_LOAD_MS)
        expect(button(page, "start")).to_be_enabled(timeout=UI_MS)
        settings_shown(page)
        assert holds(lambda: status(page) == ("idle", None, None), 1.0), "a stale run came back"
        expect(button(page, "stop")).to_be_disabled()
        shot(page, "11_after_restart")
        expect(page.get_by_text("Connection error")).to_have_count(0)
        shown = [text for test_id in ("stException", "stAlertContentError", "stAlertContentWarning")
                 for text in page.get_by_test_id(test_id).all_inner_texts()]
        assert not shown, f"the page shows after the restart: {shown}"
        assert "Traceback" not in page.inner_text("body")

        button(page, "start").click()
        first_step = wait_for(lambda: status(page)[0] == "running" and step_now(page), UI_S,
                              "a new run after the restart")
        wait_for(lambda: (s := step_now(page)) is not None and s > first_step, UI_S,
                 f"the step counter to pass {first_step}")
        expect(status_line(page)).to_contain_text("lr 0.05")
        expect(loss_chart(page)).to_be_visible(timeout=UI_MS)
        shot(page, "12_restart_trains")
    finally:
        context.close()
    for server in (first, second):
        assert "Traceback" not in server.log_text(), server.log_text()
