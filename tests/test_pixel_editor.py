"""Pixel editor: wire format and validation, the AppTest data flow, and a real browser round trip."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from playground.ui.pixel_editor import (
    BASE_PALETTE,
    MAX_SIZE,
    MIN_SIZE,
    build_palette,
    check_key,
    check_sprite,
    colour_hex,
    decode_pixels,
    default_cell_px,
    edit_value,
    encode_pixels,
    normalise_palette,
    parse_edit,
    sprite_colours,
)
from tests.conftest import ARTIFACTS, require_chromium

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

ROOT = Path(__file__).resolve().parents[1]


def random_sprite(size: int = 8, seed: int = 0) -> np.ndarray:
    """A noisy sprite with some fully transparent pixels whose RGB is deliberately non-zero."""
    rng = np.random.default_rng(seed)
    grid = rng.integers(0, 256, (size, size, 4), dtype=np.uint8)
    grid[..., 3][rng.random((size, size)) < 0.3] = 0
    return grid


# --- wire format --------------------------------------------------------------------------------

def test_encode_decode_round_trip_zeroes_hidden_rgb() -> None:
    grid = random_sprite(16)
    text = encode_pixels(grid)
    assert len(text) == 16 * 16 * 8 and text == text.lower()
    back = decode_pixels(text, 16)
    assert back is not None and back.dtype == np.uint8 and back.shape == (16, 16, 4)
    hidden = grid[..., 3] == 0
    assert (back[hidden] == 0).all()
    assert (back[~hidden] == grid[~hidden]).all()


def test_encode_is_row_major_rrggbbaa() -> None:
    grid = np.zeros((4, 4, 4), np.uint8)
    grid[0, 1] = (0x12, 0x34, 0x56, 0x78)
    assert encode_pixels(grid)[8:16] == "12345678"


def test_decode_accepts_uppercase() -> None:
    grid = check_sprite(random_sprite(4))
    decoded = decode_pixels(encode_pixels(grid).upper(), 4)
    assert decoded is not None and (decoded == grid).all()


@pytest.mark.parametrize("bad", [
    None, 42, ["ff0000ff"] * 16, b"00" * 64, "", "0" * 127, "0" * 129, "g" * 128,
    " " + "0" * 127, "#" + "0" * 127, "0" * 126 + "\n0",
])
def test_decode_rejects_malformed(bad: object) -> None:
    assert decode_pixels(bad, 4) is None


@pytest.mark.parametrize("raw", [
    None, "edit", 3, [], {}, {"pixels": "0" * 128}, {"base": 1, "pixels": "0" * 128},
    {"base": "v", "pixels": "0" * 120}, {"base": "v", "pixels": "zz" * 64}, {"base": "v"},
])
def test_parse_edit_ignores_malformed(raw: object) -> None:
    assert parse_edit(raw, 4) is None


def test_parse_edit_accepts_good_payload() -> None:
    grid = check_sprite(random_sprite(4))
    edit = parse_edit({"base": "0-abc", "pixels": encode_pixels(grid)}, 4)
    assert edit is not None and edit.base == "0-abc" and (edit.pixels == grid).all()


@pytest.mark.parametrize("bad", [
    np.zeros((8, 8, 4), np.float32), np.zeros((8, 8, 3), np.uint8), np.zeros((8, 9, 4), np.uint8),
    np.zeros((3, 3, 4), np.uint8), np.zeros((65, 65, 4), np.uint8), np.zeros((8, 8), np.uint8),
    [[0, 0, 0, 0]],
])
def test_check_sprite_rejects_bad_input(bad: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        check_sprite(bad)  # type: ignore[arg-type]


def test_check_sprite_copies() -> None:
    grid = random_sprite(4)
    hidden = grid[..., 3] == 0
    clean = check_sprite(grid)
    assert (clean[hidden][:, :3] == 0).all() and (grid[hidden][:, :3] != 0).any()


@pytest.mark.parametrize("size", range(MIN_SIZE, MAX_SIZE + 1))
def test_default_cell_size_fits_target_width(size: int) -> None:
    assert 384 <= size * default_cell_px(size) <= 512


# --- palette ------------------------------------------------------------------------------------

def test_colour_hex_drops_opaque_alpha() -> None:
    assert colour_hex((255, 0, 77, 255)) == "#ff004d"
    assert colour_hex((255, 0, 77, 128)) == "#ff004d80"


def test_sprite_colours_most_used_first_and_skip_transparent() -> None:
    grid = np.zeros((4, 4, 4), np.uint8)
    grid[:2] = (1, 2, 3, 255)
    grid[2, 0] = (9, 9, 9, 100)
    assert sprite_colours(grid) == ["#010203", "#09090964"]


def test_default_palette_is_sprite_then_base_without_duplicates() -> None:
    grid = np.zeros((4, 4, 4), np.uint8)
    grid[0, 0] = (0xFF, 0x00, 0x4D, 255)  # also in the base palette
    grid[1, 1] = (1, 2, 3, 255)
    palette = build_palette(grid, None)
    assert palette[:2] in (["#ff004d", "#010203"], ["#010203", "#ff004d"])
    assert set(BASE_PALETTE) <= set(palette) and len(palette) == len(set(palette)) == 17


def test_custom_palette_is_normalised() -> None:
    assert normalise_palette(["FF0000", "#ff0000ff", "#00ff0080"]) == ["#ff0000", "#00ff0080"]


@pytest.mark.parametrize("bad", ["red", "#fff", "#12345", "#1234567890", 7])
def test_custom_palette_rejects_bad_colours(bad: object) -> None:
    with pytest.raises(ValueError):
        normalise_palette([bad])  # type: ignore[list-item]


# --- AppTest: the Python half of the round trip -------------------------------------------------

def _editor_app() -> None:
    """Pick sprite A or B, edit it, and feed the edit back as the current sprite (like the app)."""
    import hashlib

    import numpy as np
    import streamlit as st

    from playground.ui.pixel_editor import pixel_editor, reset_pixel_editor

    sprites = {"a": np.zeros((8, 8, 4), np.uint8), "b": np.full((8, 8, 4), 200, np.uint8)}
    sprites["a"][2:6, 2:6] = (255, 0, 77, 255)
    choice = st.radio("sprite", ["a", "b"], key="choice")
    if st.session_state.get("loaded") != choice:  # "start from this sprite"
        st.session_state.sprite, st.session_state.loaded = sprites[choice], choice
    if st.button("Start again", key="restart"):  # same pixels as before: only a reset can tell
        st.session_state.sprite = sprites[choice]
        reset_pixel_editor("ed")
    edited = pixel_editor(st.session_state.sprite, key="ed")
    if edited is not None:
        st.session_state.sprite = edited
    st.write(f"edited={edited is not None}")
    st.write(f"checksum={hashlib.sha256(st.session_state.sprite.tobytes()).hexdigest()[:12]}")


def _checksum(grid: np.ndarray) -> str:
    """The same checksum the app shows."""
    import hashlib

    return hashlib.sha256(grid.tobytes()).hexdigest()[:12]


def _texts(at: AppTest) -> list[str]:
    """Everything the app wrote with st.write."""
    return [m.value for m in at.markdown]


def _sent(at: AppTest) -> dict:
    """The `data` the editor sent to the browser on the last run."""
    return json.loads(at.get("bidi_component")[0].proto.json)


@pytest.fixture
def app() -> AppTest:
    at = AppTest.from_function(_editor_app, default_timeout=30)
    at.run()
    assert not at.exception
    return at


def _sprite_a() -> np.ndarray:
    grid = np.zeros((8, 8, 4), np.uint8)
    grid[2:6, 2:6] = (255, 0, 77, 255)
    return grid


def test_app_renders_unedited(app: AppTest) -> None:
    assert _texts(app) == ["edited=False", f"checksum={_checksum(_sprite_a())}"]
    data = _sent(app)
    assert data["size"] == 8 and data["pixels"] == encode_pixels(_sprite_a())
    assert data["palette"][0] == "#ff004d" and data["key"] == "ed"


def test_app_returns_the_stored_edit(app: AppTest) -> None:
    version = _sent(app)["version"]
    drawn = _sprite_a()
    drawn[0, 0] = (1, 2, 3, 255)
    drawn[3, 3] = (9, 9, 9, 0)  # erased: RGB must come back zeroed
    app.session_state["ed"] = edit_value(drawn, version)
    app.run()
    assert not app.exception
    expected = check_sprite(drawn)
    assert _texts(app) == ["edited=True", f"checksum={_checksum(expected)}"]
    assert _sent(app)["pixels"] == encode_pixels(expected)  # the browser keeps showing the edit
    assert _sent(app)["version"] == version  # feeding the edit back is not a new sprite

    again = expected.copy()
    again[7, 7] = (4, 5, 6, 255)
    app.session_state["ed"] = edit_value(again, version)  # the next stroke, same base
    app.run()
    assert _texts(app) == ["edited=True", f"checksum={_checksum(again)}"]


def test_key_with_double_underscore_is_rejected_clearly() -> None:
    # The app's config redacts exception text on the page, so check the raised error itself.
    with pytest.raises(ValueError, match="without '__'"):
        check_key("my__editor")
    assert check_key("editor") == "editor"


@pytest.mark.parametrize("raw", [
    {"edit": {"base": "?", "pixels": "00" * 256}},  # drawn on some other sprite
    {"edit": {"pixels": "00" * 256}},
    {"edit": "garbage"},
    {"edit": None},
    {"edit": {"base": "VERSION", "pixels": "zz" * 256}},
    {"edit": {"base": "VERSION", "pixels": "00" * 100}},
    {},
])
def test_app_ignores_malformed_or_stale_values(app: AppTest, raw: dict) -> None:
    version = _sent(app)["version"]
    app.session_state["ed"] = json.loads(json.dumps(raw).replace("VERSION", version))
    app.run()
    assert not app.exception
    assert _texts(app) == ["edited=False", f"checksum={_checksum(_sprite_a())}"]


def test_app_new_sprite_resets_editor_and_drops_old_edit(app: AppTest) -> None:
    version_a = _sent(app)["version"]
    drawn = _sprite_a()
    drawn[0, 0] = (1, 2, 3, 255)
    app.session_state["ed"] = edit_value(drawn, version_a)
    app.run()
    assert _texts(app)[0] == "edited=True"

    app.radio(key="choice").set_value("b").run()
    sprite_b = np.full((8, 8, 4), 200, np.uint8)
    assert _texts(app) == ["edited=False", f"checksum={_checksum(sprite_b)}"]
    assert _sent(app)["pixels"] == encode_pixels(sprite_b)
    assert _sent(app)["version"] != version_a

    app.radio(key="choice").set_value("a").run()  # back to A: the old edit must not resurface
    assert _texts(app) == ["edited=False", f"checksum={_checksum(_sprite_a())}"]
    assert _sent(app)["pixels"] == encode_pixels(_sprite_a())
    assert _sent(app)["version"] != version_a


def test_app_reset_with_identical_pixels_drops_the_edit(app: AppTest) -> None:
    version = _sent(app)["version"]
    drawn = _sprite_a()
    drawn[0, 0] = (1, 2, 3, 255)
    app.session_state["ed"] = edit_value(drawn, version)  # stays, like a browser re-sending it
    app.run()
    assert _texts(app)[0] == "edited=True"

    app.button(key="restart").click().run()
    assert _texts(app) == ["edited=False", f"checksum={_checksum(_sprite_a())}"]
    assert _sent(app)["pixels"] == encode_pixels(_sprite_a())
    new_version = _sent(app)["version"]
    assert new_version != version
    app.run()  # the stale edit is still stored but stays ignored
    assert _texts(app)[0] == "edited=False"

    app.session_state["ed"] = edit_value(drawn, new_version)  # a stroke after the reset counts
    app.run()
    assert _texts(app) == ["edited=True", f"checksum={_checksum(check_sprite(drawn))}"]


# --- a real browser -----------------------------------------------------------------------------

DEMO = """
import numpy as np
import streamlit as st

from playground.ui.pixel_editor import pixel_editor

def sprite(kind):
    grid = np.zeros((16, 16, 4), np.uint8)
    if kind == "a":
        grid[4:12, 4:12] = (41, 173, 255, 255)
    else:
        grid[:, :8] = (0, 228, 54, 255)
    return grid

if st.button("Load sprite B"):
    st.session_state.kind = "b"
kind = st.session_state.get("kind", "a")
base = sprite(kind)
edited = pixel_editor(base, key="ed")
out = base if edited is None else edited
changed = np.argwhere((out != base).any(axis=2))
st.text(f"kind={kind} edited={edited is not None} opaque={int((out[..., 3] > 0).sum())}")
st.text("changed=" + " ".join(f"{x},{y}:{out[y, x].tobytes().hex()}" for y, x in changed))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout_s: float = 90) -> None:
    """Poll the health endpoint until it answers, the server dies, or the deadline passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"streamlit exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        threading.Event().wait(0.1)  # poll interval only; the deadline bounds the wait
    pytest.fail(f"streamlit not healthy after {timeout_s}s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> str:
    """Serve the demo with `streamlit run`; the finalizer always stops the server."""
    require_chromium()  # before starting a server that nothing could visit
    work = tmp_path_factory.mktemp("pixel_editor_demo")
    script, log = work / "demo.py", work / "server.log"
    script.write_text(textwrap.dedent(DEMO))
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(script), "--server.headless", "true",
             "--server.port", str(port), "--browser.gatherUsageStats", "false",
             "--server.fileWatcherType", "none"],
            cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT,
        )

    def stop() -> None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    request.addfinalizer(stop)
    _wait_healthy(f"http://127.0.0.1:{port}/_stcore/health", proc, log)
    return f"http://127.0.0.1:{port}/"


# Last in the module on purpose: the module's Playwright instance (the `browsers` fixture) lives
# until the module ends, and the AppTest tests above must run before it marks an event loop running.
@pytest.mark.browser
def test_browser_click_drag_fill_erase_clear_and_reload(demo_url: str, chromium: Browser) -> None:
    context = chromium.new_context(viewport={"width": 1000, "height": 900})
    try:
        _drive_editor(context.new_page(), demo_url)
    finally:
        context.close()


def _drive_editor(page: Page, url: str) -> None:
    """Paint through the real UI and check that Python received exactly those pixels."""
    from playwright.sync_api import expect

    page.goto(url)
    status = page.get_by_test_id("stText").first
    changed = page.get_by_test_id("stText").nth(1)
    expect(status).to_have_text("kind=a edited=False opaque=64", timeout=60_000)
    canvas = page.locator(".pe canvas")  # inside the component's open shadow root
    expect(canvas).to_be_visible(timeout=30_000)
    box = canvas.bounding_box()
    assert box is not None and 384 <= box["width"] <= 512

    def at(x: int, y: int) -> tuple[float, float]:
        cell = box["width"] / 16
        return box["x"] + (x + 0.5) * cell, box["y"] + (y + 0.5) * cell

    red, blue, green = "ff004dff", "29adffff", "00e436ff"
    page.locator(f'.pe-swatch[data-color="{red}"]').click()
    page.mouse.click(*at(1, 1))
    expect(changed).to_have_text(f"changed=1,1:{red}", timeout=15_000)
    # the chosen colour survives the rerun
    expect(page.locator(f'.pe-swatch[data-color="{red}"]')).to_have_attribute("aria-pressed", "true")

    page.mouse.move(*at(2, 14))
    page.mouse.down()
    page.mouse.move(*at(13, 14), steps=4)  # few, far-apart moves: the line must still be unbroken
    page.mouse.up()
    row = " ".join(f"{x},14:{red}" for x in range(2, 14))
    expect(changed).to_have_text(f"changed=1,1:{red} {row}", timeout=15_000)

    page.locator('.pe-tools [data-tool="erase"]').click()
    page.mouse.click(*at(5, 5))
    expect(status).to_have_text("kind=a edited=True opaque=76", timeout=15_000)

    page.locator('.pe-tools [data-tool="fill"]').click()
    page.locator(f'.pe-swatch[data-color="{green}"]').click()
    page.mouse.click(*at(8, 8))  # the blue square (minus the erased pixel) turns green
    square = [(x, y) for y in range(4, 12) for x in range(4, 12) if (x, y) != (5, 5)]
    expected = [(1, 1, red)] + [(x, y, green) for x, y in square] + [(5, 5, "00000000")]
    expected += [(x, 14, red) for x in range(2, 14)]
    expected.sort(key=lambda c: (c[1], c[0]))
    text = " ".join(f"{x},{y}:{c}" for x, y, c in expected)
    expect(changed).to_have_text(f"changed={text}", timeout=15_000)
    assert blue not in text
    assert _canvas_rgba(canvas, 8, 8) == (0, 228, 54, 255)  # drawn == returned
    page.mouse.click(*at(1, 1), button="right")  # right-click erases whatever the tool
    expect(changed).to_have_text(f"changed={text.replace(f'1,1:{red} ', '')}", timeout=15_000)
    page.locator(".pe").screenshot(path=str(ARTIFACTS / "pixel_editor_edited.png"))
    page.screenshot(path=str(ARTIFACTS / "pixel_editor_page.png"), full_page=True)

    page.get_by_role("button", name="Load sprite B").click()
    expect(status).to_have_text("kind=b edited=False opaque=128", timeout=15_000)
    expect(changed).to_have_text("changed=", timeout=15_000)
    assert _canvas_rgba(canvas, 1, 1) == (0, 228, 54, 255)  # the old red stroke is gone
    assert _canvas_rgba(canvas, 12, 1)[1] != 228  # right half is transparent, not green
    page.locator(".pe").screenshot(path=str(ARTIFACTS / "pixel_editor_loaded_b.png"))

    page.locator(".pe-clear").click()
    expect(status).to_have_text("kind=b edited=True opaque=0", timeout=15_000)


def _canvas_rgba(canvas: Locator, x: int, y: int) -> tuple[int, ...]:
    """The colour the canvas shows at the middle of cell (x, y), read from its backing store."""
    return tuple(canvas.evaluate(
        """(c, [x, y]) => {
            const s = c.width / 16, px = Math.floor((x + 0.5) * s), py = Math.floor((y + 0.5) * s);
            return Array.from(c.getContext("2d").getImageData(px, py, 1, 1).data);
        }""",
        [x, y],
    ))
