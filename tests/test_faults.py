"""Bad input and faults, table-driven: each case names the message a user sees, and that nothing
is lost. (The slow load and soak runs are scripts under benchmarks/, not tests.)"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from playground import RunConfig, sprites
from playground.cli import main
from playground.serve import Pool, Runner
from playground.serve.limits import Limits
from tests.helpers import wait_until

REAL = Path(__file__).resolve().parents[2] / "shared" / "real_images"


def _png(arr: np.ndarray, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", **kw)
    return buf.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _bomb() -> bytes:
    """A 300-byte PNG that claims 30000 x 30000 pixels."""
    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr)
            + _chunk(b"IDAT", zlib.compress(b"\0" * 100)) + _chunk(b"IEND", b""))


def _jpeg(mode: str, exif_orientation: int | None = None) -> bytes:
    img = Image.new(mode, (24, 12), (0, 128, 255, 0) if mode == "CMYK" else (200, 30, 30))
    buf = io.BytesIO()
    kw = {}
    if exif_orientation:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        kw["exif"] = exif
    img.save(buf, format="JPEG", **kw)
    return buf.getvalue()


def _real(name: str) -> bytes:
    path = REAL / name
    assert path.exists(), f"real test images missing: expected {path} (../shared/real_images)"
    return path.read_bytes()


GOOD = _png(np.zeros((20, 20, 4), np.uint8))
REFUSED = [
    ("zero bytes", lambda: b"", "The file is empty."),
    ("truncated PNG", lambda: GOOD[: len(GOOD) // 2], "could not be read (it may be damaged)"),
    ("decompression bomb", _bomb, "30000x30000 pixels (900 Mpx); the limit is 4 Mpx"),
    ("SVG", lambda: b'<svg xmlns="http://www.w3.org/2000/svg"/>', "SVG drawing"),
    ("PDF", lambda: b"%PDF-1.4\n%...", "PDF document"),
    ("text named .png", lambda: b"just some words", "plain text, not an image"),
    ("over 5 MB", lambda: b"\x89PNG" + b"\0" * (6 * 2**20), "limit is 5 MB"),
    ("TIFF", lambda: _real("skimage__multipage_2frames.tif"), "TIFF image"),
]
ACCEPTED = [
    ("animated GIF", lambda: _real("skimage__no_time_for_that_tiny_animated.gif"),
     "used the first frame of 24"),
    ("16-bit PNG", lambda: _real("skimage__chessboard_RGB_16bit.png"), ""),
    ("CMYK JPEG", lambda: _jpeg("CMYK"), ""),
    ("EXIF-rotated JPEG", lambda: _jpeg("RGB", exif_orientation=6), "Resized from 12x24"),
    ("1x1 pixel", lambda: _png(np.full((1, 1, 4), 255, np.uint8)), "Resized from 1x1"),
    ("huge but allowed photo", lambda: _real("skimage__camera.png"), "Resized from 512x512"),
]


@pytest.mark.parametrize(("case", "make", "message"), REFUSED, ids=[c[0] for c in REFUSED])
def test_refused_uploads_say_why(case: str, make, message: str) -> None:
    with pytest.raises(sprites.SpriteError) as info:
        sprites.read_image(make(), 16)
    assert message in str(info.value)
    assert "Traceback" not in str(info.value) and len(str(info.value)) < 200


@pytest.mark.parametrize(("case", "make", "note"), ACCEPTED, ids=[c[0] for c in ACCEPTED])
def test_odd_but_valid_uploads_become_sprites(case: str, make, note: str) -> None:
    arr, notes = sprites.read_image(make(), 16)
    assert arr.shape == (16, 16, 4) and arr.dtype == np.uint8
    assert note in " ".join(notes)


@pytest.mark.parametrize(("case", "make", "message"), REFUSED[:4], ids=[c[0] for c in REFUSED[:4]])
def test_refused_upload_in_the_app_keeps_the_target(case: str, make, message: str) -> None:
    at = AppTest.from_file("../app.py", default_timeout=60)
    at.run()
    at.file_uploader(key="upload").set_value(("x.png", make(), "image/png")).run()
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert message in errors and "previous target is still in use" in errors
    assert at.session_state["sprite"] == "heart"


HYPERPARAMETERS = [
    ("huge LR", "lr=1e9", "lr: 1000000000.0 is not allowed; expected 1e-06 to 1000"),
    ("zero LR", "lr=0", "lr: 0.0 is not allowed"),
    ("negative LR", "lr=-0.1", "lr: -0.1 is not allowed"),
    ("NaN LR", "lr=nan", "lr: nan is not allowed"),
    ("infinite LR", "lr=inf", "lr: inf is not allowed"),
    ("absurd batch size", "batch_size=100000000", "batch_size: 100000000 is not allowed"),
    ("zero batch size", "batch_size=0", "batch_size: 0 is not allowed"),
    ("fractional epochs", "epochs=2.5", "epochs: '2.5' is not allowed"),
]


@pytest.mark.parametrize(("case", "setting", "message"), HYPERPARAMETERS,
                         ids=[c[0] for c in HYPERPARAMETERS])
def test_bad_hyperparameters_are_refused_with_the_field_and_range(case, setting, message,
                                                                   tmp_path, capsys) -> None:
    assert main(["train", "--set", setting, "--out", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err


HOSTILE_LINKS = [
    ("unknown key", {"evil": "1"}, "unknown key 'evil' ignored"),
    ("wrong type", {"epochs": "lots"}, "epochs: 'lots' is not allowed"),
    ("NaN", {"lr": "nan"}, "lr: nan is not allowed"),
    ("huge value", {"size": "1e12"}, "size: 1000000000000 is not allowed"),
    ("10 KB string", {"optimizer": "a" * 10_000}, "optimizer: 'aaaa"),
    ("repeated key", {"lr": ["0.1", "0.2"]}, None),
    ("damaged sprite code", {"sprite": "custom", "pixels": "v1.garbage"}, "damaged"),
]


@pytest.mark.parametrize(("case", "query", "message"), HOSTILE_LINKS,
                         ids=[c[0] for c in HOSTILE_LINKS])
def test_hostile_links_fall_back_to_defaults_with_a_note(case, query, message) -> None:
    at = AppTest.from_file("../app.py", default_timeout=60)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception
    warning = " ".join(w.value for w in at.warning)
    if message is None:
        assert at.session_state["cfg"].lr == 0.2  # the last repeated value wins, silently
    else:
        assert message in warning and len(warning) < 2000
    assert isinstance(at.session_state["cfg"], RunConfig)


def test_stop_then_start_quickly_never_leaves_two_runs(pool: Pool) -> None:
    r = Runner(Limits(), pool)
    cfg = RunConfig(epochs=1_000_000, size=8, pace=0)
    try:
        for _ in range(5):
            r.start(cfg)
            r.stop(wait=True)
        assert r.start(cfg) and not r.start(cfg)
        wait_until(lambda: r.snapshot().n_rows > 0)
    finally:
        r.stop(wait=True)
    assert r.join(5)
    wait_until(lambda: sum(w.task is r._task for w in pool.workers) == 0, what="its worker free")


def test_diverging_run_draws_its_blow_up_and_keeps_the_last_good_image(pool: Pool) -> None:
    r = Runner(Limits(), pool)
    r.start(RunConfig(model="pixels", optimizer="sgd", lr=1000.0, epochs=100, size=8, pace=0))
    snap = wait_until(lambda: (s := r.snapshot()).state == "diverged" and s)
    assert np.isfinite(snap.rows["loss"][:-1]).all() and snap.n_rows == int(snap.last.step)
    assert snap.image is not None and snap.image.dtype == np.uint8
    assert "diverged at step" in snap.message
