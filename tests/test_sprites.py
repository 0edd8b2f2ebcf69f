"""Tests for playground.sprites: the gallery, the safe upload loader, the share codec, conversions."""

from __future__ import annotations

import hashlib
import io
import json
import re
import struct
import time
import tomllib
import urllib.parse
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image, ImageFile

from playground import sprites
from playground.sprites import (
    CODE_PREFIX,
    MAX_PIXELS,
    MAX_UPLOAD_BYTES,
    SPRITES,
    Sprite,
    SpriteError,
    checkerboard_composite,
    decode_sprite,
    encode_sprite,
    from_tensor,
    load_sprite,
    read_image,
    resize_rgba,
    to_png_bytes,
    to_tensor,
    upscale,
)
from playground.sprites.gallery import GALLERY_FILE, parse_gallery

REAL_DIR = Path(__file__).resolve().parents[2] / "shared" / "real_images"
URL_SAFE = re.compile(r"[A-Za-z0-9_.~-]+")
NAMES = list(SPRITES)
GALLERY_TEXT = (Path(sprites.__file__).parent / GALLERY_FILE).read_text(encoding="utf-8")
GALLERY_TABLES = tomllib.loads(GALLERY_TEXT)  # read here without the package's parser


# Helpers ---------------------------------------------------------------------------------------
def png_bytes(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", **kw)
    return buf.getvalue()


def jpeg_bytes(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", **kw)
    return buf.getvalue()


def chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def crafted_png(w: int, h: int) -> bytes:
    """A tiny PNG whose header claims w x h RGB pixels (a decompression-bomb shape)."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1_000_000, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def jpeg_claiming(w: int, h: int) -> bytes:
    """A small real JPEG with its SOF0 size field rewritten to claim w x h."""
    data = bytearray(jpeg_bytes(Image.new("RGB", (8, 8), (200, 10, 10))))
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", h, w)
    return bytes(data)


def code_for(body: bytes) -> str:
    """A share code around an arbitrary payload, to forge hostile codes."""
    import base64

    return CODE_PREFIX + base64.urlsafe_b64encode(zlib.compress(body)).rstrip(b"=").decode()


def refused(data: bytes, size: int = 16) -> str:
    """Run read_image, require a SpriteError and hand back its message."""
    with pytest.raises(SpriteError) as info:
        read_image(data, size)
    return str(info.value)


def decode_png16_rgb(data: bytes) -> np.ndarray:
    """Independent decoder for a non-interlaced 16-bit RGB PNG (the oracle for 16-bit tests)."""
    pos, idat = 8, b""
    while pos < len(data):
        n, tag = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if tag == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
        elif tag == b"IDAT":
            idat += body
    assert (depth, ctype, interlace) == (16, 2, 0)
    raw, bpp = zlib.decompress(idat), 6
    stride = w * bpp
    prev, rows = bytearray(stride), []
    for y in range(h):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return np.frombuffer(b"".join(rows), dtype=">u2").reshape(h, w, 3)


@pytest.fixture(scope="module")
def real_dir() -> Path:
    if not (REAL_DIR / "manifest.json").is_file():
        pytest.fail(f"The real test images are missing: expected {REAL_DIR}/manifest.json "
                    "(the shared/ folder beside the checkout).")
    return REAL_DIR


def manifest() -> list[dict]:
    path = REAL_DIR / "manifest.json"
    return json.loads(path.read_text()) if path.is_file() else [{"file": "MISSING"}]


# The gallery -----------------------------------------------------------------------------------
def test_gallery_has_the_promised_sprites() -> None:
    required = {"heart", "mushroom", "invader", "potion", "sword", "ghost", "slime", "star",
                "key", "coin", "smiley"}
    assert required <= set(SPRITES)
    assert len(SPRITES) >= 18
    assert NAMES[0] == "heart" and SPRITES["heart"].size == 16
    assert sum(s.size == 32 for s in SPRITES.values()) >= 2
    assert all(re.fullmatch(r"[a-z0-9_-]+", n) for n in NAMES)
    assert all(SPRITES[n].name == n for n in NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_gallery_sprite_is_well_formed(name: str) -> None:
    s = SPRITES[name]
    assert s.size in (16, 32)
    assert len(s.rows) == s.size and all(len(r) == s.size for r in s.rows)
    assert set("".join(s.rows)) <= set(s.palette) | {"."}
    assert 3 <= len(set(s.palette.values())) <= 8
    assert all(re.fullmatch(r"#[0-9a-f]{6}", c) for c in s.palette.values())
    assert s.description and "\n" not in s.description
    arr = s.to_array()
    assert arr.dtype == np.uint8 and arr.shape == (s.size, s.size, 4)
    alpha = arr[..., 3]
    assert (alpha == 0).any(), "needs a transparent background"
    assert set(np.unique(alpha)) <= {0, 255}
    assert not arr[alpha == 0].any(), "transparent pixels must be (0, 0, 0, 0)"
    opaque = {tuple(p) for p in arr[alpha == 255]}
    assert len(opaque) >= 3
    for edge in (arr[0], arr[-1], arr[:, 0], arr[:, -1]):  # it is not a filled square
        assert (edge[:, 3] == 0).any()


def test_gallery_is_the_data_file_in_file_order() -> None:
    assert list(GALLERY_TABLES) == NAMES
    assert len(NAMES) == 21
    assert parse_gallery(GALLERY_TEXT) == SPRITES


@pytest.mark.parametrize("name", list(GALLERY_TABLES))
def test_gallery_entry_parses_from_the_data_file(name: str) -> None:
    table = GALLERY_TABLES[name]
    assert sorted(table) == ["description", "palette", "rows"]
    rows = table["rows"].splitlines()
    width = len(rows[0])
    assert width in (16, 32) and len(rows) == width, "square, 16 or 32 pixels a side"
    assert all(len(row) == width for row in rows), "every row the same width"
    assert all(len(ch) == 1 and ch != "." for ch in table["palette"])
    assert all(re.fullmatch(r"#[0-9a-f]{6}", c) for c in table["palette"].values())
    assert set("".join(rows)) <= set(table["palette"]) | {"."}
    sprite = SPRITES[name]
    assert sprite.name == name and sprite.size == width
    assert sprite.rows == tuple(rows) and dict(sprite.palette) == table["palette"]
    assert sprite.description == table["description"]


@pytest.mark.parametrize(("text", "match"), [
    ("[a]\ndescription = 'x'\npalette = { k = '#000000' }\n", "exactly the keys"),
    ("[a]\ndescription = 'x'\npalette = {}\nrows = '.'\ncolour = 'red'\n", "exactly the keys"),
    ('[a]\ndescription = "two\\nlines"\npalette = {}\nrows = "."\n', "one-line description"),
    ("[a]\ndescription = 'x'\npalette = { k = 0 }\nrows = 'k'\n", "palette"),
    ("[a]\ndescription = 'x'\npalette = {}\nrows = ['.']\n", "multi-line string"),
    ("[a]\ndescription = 'x'\npalette = { k = '#000000' }\nrows = \"\"\"\nkk\nk\n\"\"\"\n", "square"),
    ("[A]\ndescription = 'x'\npalette = {}\nrows = '.'\n", "lowercase"),
    ("[a]\n[a]\n", "not valid TOML"),
])
def test_gallery_parser_names_the_mistake(text: str, match: str) -> None:
    with pytest.raises(SpriteError, match=match):
        parse_gallery(text)


def test_sprite_refuses_bad_drawings() -> None:
    with pytest.raises(SpriteError, match="square"):
        Sprite("oops", ("ab", "a"), {"a": "#000000", "b": "#ffffff"})
    with pytest.raises(SpriteError, match="missing from its palette"):
        Sprite("oops", ("ab", "ac"), {"a": "#000000", "b": "#ffffff"})
    with pytest.raises(SpriteError, match="palette"):
        Sprite("oops", ("a.", ".."), {"a": "red"})
    s = SPRITES["heart"]
    with pytest.raises(AttributeError):
        s.name = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        s.palette["k"] = "#000000"  # type: ignore[index]


@pytest.mark.parametrize("name", NAMES)
def test_gallery_code_round_trip(name: str) -> None:
    arr = SPRITES[name].to_array()
    code = encode_sprite(arr)
    assert code.startswith(CODE_PREFIX)
    assert URL_SAFE.fullmatch(code)
    assert urllib.parse.quote(code, safe="") == code
    if arr.shape[0] == 16:
        assert len(code) < 1000
    assert np.array_equal(decode_sprite(code), arr)
    assert np.array_equal(load_sprite(code), arr)


def test_typical_code_length_is_short() -> None:
    lengths = {n: len(encode_sprite(s.to_array())) for n, s in SPRITES.items() if s.size == 16}
    print("16x16 share-code lengths:", lengths)
    assert 60 <= float(np.median(list(lengths.values()))) <= 250
    assert max(lengths.values()) < 400


@pytest.mark.parametrize("name", NAMES)
def test_load_sprite_native_and_resized(name: str) -> None:
    native = SPRITES[name].to_array()
    n = native.shape[0]
    assert np.array_equal(load_sprite(name), native)
    assert np.array_equal(load_sprite(name, n), native)
    for size in (32, 64):
        if size > n:  # integer upscale: exactly nearest neighbour
            assert np.array_equal(load_sprite(name, size), upscale(native, size // n))
    small = load_sprite(name, 8)
    f = n // 8
    assert small.shape == (8, 8, 4) and small.dtype == np.uint8
    blocks = native.reshape(8, f, 8, f, 4).astype(float)
    mean_alpha = blocks[..., 3].mean(axis=(1, 3))
    assert np.abs(small[..., 3] - mean_alpha).max() <= 1  # alpha region kept (box average)
    assert np.array_equal(small[..., 3] > 0, mean_alpha > 0.5)
    uniform = (blocks == blocks[:, :1, :, :1]).all(axis=(1, 3, 4))
    assert np.array_equal(small[uniform], native[::f, ::f][uniform])  # flat areas keep colour
    assert not small[small[..., 3] == 0].any()


def test_load_sprite_refuses_unknown_names_and_sizes(tmp_path: Path) -> None:
    with pytest.raises(SpriteError, match="heart") as info:
        load_sprite("dragonz")
    assert "no sprite called 'dragonz'" in str(info.value)
    for bad in (0, 5000, True, 3.5, "16"):
        with pytest.raises(SpriteError, match="whole number"):
            load_sprite("heart", bad)  # type: ignore[arg-type]
    with pytest.raises(SpriteError, match="no file called .missing.png."):
        load_sprite(tmp_path / "missing.png")
    with pytest.raises(SpriteError):
        load_sprite(12345)  # type: ignore[arg-type]
    with pytest.raises(SpriteError):
        load_sprite("x\0y.png")


def test_load_sprite_from_bytes_path_and_string(tmp_path: Path) -> None:
    arr = SPRITES["coin"].to_array()
    data = to_png_bytes(arr)
    path = tmp_path / "coin.png"
    path.write_bytes(data)
    for source in (data, path, str(path)):
        assert np.array_equal(load_sprite(source), arr)
        assert load_sprite(source, 8).shape == (8, 8, 4)
    wide = np.zeros((4, 10, 4), np.uint8)
    wide[..., 0], wide[..., 3] = 200, 255
    squared = load_sprite(encode_sprite(wide))
    assert squared.shape == (10, 10, 4)
    assert (squared[3:7, :, 3] == 255).all() and (squared[:3, :, 3] == 0).all()


def test_load_sprite_refuses_a_big_file_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "huge.png"
    with path.open("wb") as fh:
        fh.write(b"\x89PNG\r\n\x1a\n")
        fh.truncate(MAX_UPLOAD_BYTES + 1)
    with pytest.raises(SpriteError, match="limit is 5 MB"):
        load_sprite(path)


def test_text_named_png_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "picture.png"
    path.write_text("hello, this is not a picture\n")
    with pytest.raises(SpriteError, match="plain text"):
        load_sprite(path)


# Real files from ../shared/real_images ---------------------------------------------------------
def test_manifest_lists_every_real_file(real_dir: Path) -> None:
    listed = {e["file"] for e in manifest()}
    present = {p.name for p in real_dir.iterdir() if p.suffix in (".png", ".gif", ".tif", ".jpg")}
    assert listed == present and len(listed) == 10


@pytest.mark.parametrize("entry", manifest(), ids=lambda e: e["file"])
def test_real_image(entry: dict, real_dir: Path) -> None:
    data = (real_dir / entry["file"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == entry["sha256"]
    if entry["allowlist_result"] != "accepted":
        message = refused(data)
        if entry["file"].endswith(".tif"):
            assert "TIFF" in message
        return
    fmt, mode, dims, frames = entry["pillow_open"].split()
    w, h = map(int, dims.split("x"))
    n_frames = int(frames.split("=")[1])
    arr, notes = read_image(data, 16)
    assert arr.shape == (16, 16, 4) and arr.dtype == np.uint8
    assert not arr[arr[..., 3] == 0].any()
    assert (arr[..., 3] > 0).mean() > 0.3
    assert any(f"Resized from {w}x{h} to 16x16" in n for n in notes)
    if mode in ("L", "LA"):
        assert (arr[..., 0] == arr[..., 1]).all() and (arr[..., 1] == arr[..., 2]).all()
    if w != h:
        assert (arr[..., 3] == 0).any(), "non-square images are padded with transparency"
        assert any("padded" in n for n in notes)
    animated = [n for n in notes if n.startswith("Animated")]
    if n_frames > 1:
        assert animated == [f"Animated image: used the first frame of {n_frames}."]
    else:
        assert animated == []
    big, _ = read_image(data, 64)
    assert big.shape == (64, 64, 4)


def test_real_greyscale_photo_keeps_its_tones(real_dir: Path) -> None:
    data = (real_dir / "skimage__camera.png").read_bytes()
    arr, notes = read_image(data, 512)
    assert notes == []
    expected = np.asarray(Image.open(io.BytesIO(data)))
    assert np.array_equal(arr[..., 0], expected)
    assert (arr[..., 3] == 255).all()


def test_real_16bit_rgb_is_scaled_not_clipped(real_dir: Path) -> None:
    data = (real_dir / "skimage__chessboard_RGB_16bit.png").read_bytes()
    deep = decode_png16_rgb(data)
    expected = np.rint(deep / 257.0)
    arr, _ = read_image(data, deep.shape[0])
    assert np.abs(arr[..., :3].astype(float) - expected).max() <= 1
    levels = np.unique(arr[..., :3])
    assert levels.min() < 60 and levels.max() > 200
    assert ((levels > 30) & (levels < 225)).sum() >= 2, "mid tones survive"


def test_real_rgba_keeps_partial_transparency(real_dir: Path) -> None:
    data = (real_dir / "skimage__horse_rgba.png").read_bytes()
    expected = np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))
    assert (expected[..., 3] < 255).any()
    arr, _ = read_image(data, 400)  # 400x328 padded to 400x400: exact pixels in the middle
    assert np.array_equal(arr[36:364], expected)
    assert (arr[:36, :, 3] == 0).all() and (arr[364:, :, 3] == 0).all()
    partial = (expected[..., 3] > 0) & (expected[..., 3] < 255)
    assert partial.any() and np.array_equal(arr[36:364][partial], expected[partial])
    small, _ = read_image(data, 32)  # padded to 32x26 content: 3 transparent rows each side
    assert (small[:3, :, 3] == 0).all() and (small[29:, :, 3] == 0).all()
    assert (small[3:29, :, 3] > 0).all()


def test_real_animated_gif_uses_the_first_frame(real_dir: Path) -> None:
    data = (real_dir / "skimage__no_time_for_that_tiny_animated.gif").read_bytes()
    arr, notes = read_image(data, 25)
    assert "Animated image: used the first frame of 24." in notes
    with Image.open(io.BytesIO(data)) as img:
        first = np.asarray(img.convert("RGBA"))
        img.seek(12)
        later = np.asarray(img.convert("RGBA"))
    assert not np.array_equal(first, later)
    assert np.array_equal(arr[:, 5:19], first)


# Generated awkward and hostile files -----------------------------------------------------------
def test_refuses_empty_and_oversized_data() -> None:
    assert refused(b"") == "The file is empty."
    big = b"\x89PNG\r\n\x1a\n" + bytes(MAX_UPLOAD_BYTES)
    assert "the limit is 5 MB" in refused(big)
    with pytest.raises(SpriteError):
        read_image("not bytes", 16)  # type: ignore[arg-type]


@pytest.mark.parametrize(("data", "word"), [
    (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"></svg>', "SVG"),
    (b"<svg width='10' height='10'><rect/></svg>", "SVG"),
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "PDF"),
    (b"II*\x00\x08\x00\x00\x00" + bytes(64), "TIFF"),
    (b"just some notes someone renamed to .png\n", "plain text"),
    (b"<!DOCTYPE html><html><body>hi</body></html>", "web page"),
    (b"\x00\x00\x00\x18ftypheic" + bytes(32), "HEIC"),
    (b"PK\x03\x04" + bytes(40), "ZIP"),
    (bytes(range(256)) * 4, "not an image"),
])
def test_refuses_other_file_types_by_name(data: bytes, word: str) -> None:
    message = refused(data)
    assert word in message
    assert "PNG, JPEG, GIF, WEBP or BMP" in message


def test_truncated_files_are_refused() -> None:
    rng = np.random.default_rng(1)
    noise = Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    for data in (png_bytes(noise), jpeg_bytes(noise, quality=90)):
        assert read_image(data, 16)[0].shape == (16, 16, 4)
        message = refused(data[: len(data) // 2])
        assert "truncated" in message or "damaged" in message
    assert "damaged" in refused(b"\x89PNG\r\n\x1a\n")


@pytest.fixture
def no_decoding(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Fail loudly if Pillow starts decoding pixel data."""
    calls: list[int] = []

    def refuse_load(self: ImageFile.ImageFile) -> None:
        calls.append(1)
        raise AssertionError("pixel data was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse_load)
    return calls


@pytest.mark.parametrize(("data", "text"), [
    (crafted_png(30000, 30000), "30000x30000 pixels (900 Mpx); the limit is 4 Mpx"),
    (crafted_png(2100, 2100), "2100x2100 pixels (4.4 Mpx)"),
    (b"GIF89a" + struct.pack("<HH", 40000, 40000) + b"\x00\x00\x00;", "40000x40000"),
    (b"BM" + bytes(12) + struct.pack("<Iii", 40, 30000, -30000) + bytes(40), "30000x30000"),
    (jpeg_claiming(3000, 3000), "3000x3000 pixels (9 Mpx)"),
    (jpeg_claiming(20000, 20000), "400 Mpx"),
])
def test_decompression_bombs_are_refused_before_decoding(data: bytes, text: str,
                                                         no_decoding: list[int]) -> None:
    assert len(data) < 10_000
    start = time.perf_counter()
    message = refused(data)
    assert time.perf_counter() - start < 1.0
    assert text in message and "limit is 4 Mpx" in message
    assert no_decoding == []


def test_pillow_bomb_warning_is_a_refusal_even_as_an_error(no_decoding: list[int]) -> None:
    data = jpeg_claiming(10000, 10000)  # 100 Mpx: Pillow itself only warns
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert "limit is 4 Mpx" in refused(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert "10000x10000 pixels (100 Mpx)" in refused(data)
    assert no_decoding == []
    assert Image.MAX_IMAGE_PIXELS == 89_478_485, "the loader must not change Pillow globally"
    assert MAX_PIXELS == 4_000_000


def test_cmyk_jpeg_keeps_its_colours() -> None:
    img = Image.new("CMYK", (32, 32))
    inks = {(0, 0): (0, 255, 255, 0), (16, 0): (255, 0, 255, 0), (0, 16): (255, 255, 0, 0),
            (16, 16): (0, 0, 0, 255)}
    for (x, y), ink in inks.items():
        img.paste(ink, (x, y, x + 16, y + 16))
    arr, notes = read_image(jpeg_bytes(img, quality=100), 32)
    assert notes == []
    want = {(0, 0): (255, 0, 0), (16, 0): (0, 255, 0), (0, 16): (0, 0, 255), (16, 16): (0, 0, 0)}
    for (x, y), rgb in want.items():
        got = arr[y + 8, x + 8, :3].astype(int)
        assert np.abs(got - rgb).max() <= 30, ((x, y), got)
    assert (arr[..., 3] == 255).all()


def test_exif_rotated_jpeg_comes_out_upright() -> None:
    img = Image.new("RGB", (16, 8))
    colours = {"tl": (255, 0, 0), "tr": (0, 255, 0), "bl": (0, 0, 255), "br": (255, 255, 0)}
    img.paste(colours["tl"], (0, 0, 8, 4))
    img.paste(colours["tr"], (8, 0, 16, 4))
    img.paste(colours["bl"], (0, 4, 8, 8))
    img.paste(colours["br"], (8, 4, 16, 8))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    arr, notes = read_image(jpeg_bytes(img, quality=100, exif=exif.tobytes()), 16)
    assert any("upright" in n for n in notes)
    assert (arr[:, :4, 3] == 0).all() and (arr[:, 12:, 3] == 0).all()  # now 8 wide, 16 tall
    expect = {(2, 6): "bl", (2, 9): "tl", (13, 6): "br", (13, 9): "tr"}
    for (y, x), key in expect.items():
        assert np.abs(arr[y, x, :3].astype(int) - colours[key]).max() <= 40, (y, x, key)


def test_16bit_greyscale_png_is_scaled_not_clipped() -> None:
    ramp = np.linspace(0, 65535, 32 * 32).round().astype(np.uint16).reshape(32, 32)
    img = Image.fromarray(ramp)
    assert img.mode == "I;16"
    assert np.asarray(img.convert("L")).max() == 255 == np.asarray(img.convert("L"))[16, 0]
    arr, _ = read_image(png_bytes(img), 32)
    grey = arr[..., 0]
    assert np.array_equal(grey, np.rint(ramp / 257.0).astype(np.uint8))
    assert grey[0, 0] == 0 and grey[-1, -1] == 255
    assert 120 <= grey[16, 0] <= 136, "mid-grey stays mid-grey"
    assert (np.diff(grey.ravel().astype(int)) >= 0).all()


def test_palette_png_with_transparency_keeps_alpha() -> None:
    img = Image.new("P", (8, 8), 0)
    img.putpalette([0, 255, 0, 200, 30, 40, 10, 20, 250] + [0] * (256 * 3 - 9))
    img.paste(1, (2, 2, 6, 6))
    img.paste(2, (3, 3, 5, 5))
    arr, _ = read_image(png_bytes(img, transparency=0), 8)
    assert (arr[0, 0] == 0).all(), "transparent green must come out as (0, 0, 0, 0)"
    assert tuple(arr[2, 2]) == (200, 30, 40, 255)
    assert tuple(arr[4, 4]) == (10, 20, 250, 255)
    assert (arr[..., 3] == 0).sum() == 64 - 16


def test_la_and_bilevel_images() -> None:
    la = Image.new("LA", (4, 4), (90, 0))
    la.paste((200, 128), (0, 0, 2, 4))
    arr, _ = read_image(png_bytes(la), 4)
    assert tuple(arr[0, 0]) == (200, 200, 200, 128)
    assert tuple(arr[0, 3]) == (0, 0, 0, 0)
    bw = Image.new("1", (4, 4), 1)
    bw.paste(0, (0, 0, 2, 2))
    arr, _ = read_image(png_bytes(bw), 4)
    assert tuple(arr[0, 0]) == (0, 0, 0, 255) and tuple(arr[3, 3]) == (255, 255, 255, 255)


def test_other_allowed_formats_and_apng() -> None:
    sprite = SPRITES["slime"].to_array()
    for fmt, kw in (("BMP", {}), ("WEBP", {"lossless": True}), ("GIF", {})):
        buf = io.BytesIO()
        Image.fromarray(sprite).save(buf, format=fmt, **kw)
        arr, _ = read_image(buf.getvalue(), 16)
        opaque = sprite[..., 3] == 255
        if fmt != "BMP":  # BMP via Pillow drops alpha on save
            assert np.array_equal(arr[..., 3] > 0, opaque)
        assert np.array_equal(arr[opaque][:, :3], sprite[opaque][:, :3])
    frames = [Image.fromarray(SPRITES[n].to_array()) for n in ("heart", "coin", "star")]
    for fmt, kw in (("PNG", {}), ("WEBP", {"lossless": True})):
        buf = io.BytesIO()
        frames[0].save(buf, format=fmt, save_all=True, append_images=frames[1:], **kw)
        arr, notes = read_image(buf.getvalue(), 16)
        assert "Animated image: used the first frame of 3." in notes, fmt
        assert np.array_equal(arr, SPRITES["heart"].to_array()), fmt


def test_a_long_thin_strip_is_fitted_not_blown_up() -> None:
    strip = Image.new("L", (40000, 100), 30)
    start = time.perf_counter()
    arr, notes = read_image(png_bytes(strip), 16)
    assert time.perf_counter() - start < 3.0
    assert notes == ["Resized from 40000x100 to 16x16 (padded to a square with transparent "
                     "borders)."]
    assert (arr[7, :, :3] == 30).all() and (arr[7, :, 3] == 255).all()
    assert (np.delete(arr, 7, axis=0)[..., 3] == 0).all()
    assert load_sprite(png_bytes(strip)).shape == (2000, 2000, 4)


def test_text_that_starts_like_an_image_is_called_text() -> None:
    assert "plain text" in refused(b"BMW owners club minutes, 2024\n")
    assert "plain text" in refused(b"GIF89a is the best format, said nobody\n")


def test_downscale_does_not_bleed_hidden_colour() -> None:
    arr = np.zeros((2, 2, 4), np.uint8)
    arr[..., 1] = 255  # invisible green everywhere
    arr[0, 0] = (255, 0, 0, 255)
    out = resize_rgba(arr, 1)
    assert tuple(out[0, 0]) == (255, 0, 0, 64)
    data = png_bytes(Image.fromarray(arr))
    small, notes = read_image(data, 1)
    assert tuple(small[0, 0]) == (255, 0, 0, 64)
    assert notes == ["Resized from 2x2 to 1x1."]
    same, notes = read_image(data, 2)
    assert notes == [] and tuple(same[1, 1]) == (0, 0, 0, 0) and tuple(same[0, 0]) == (255, 0, 0, 255)


def test_tiny_images_scale_up_with_nearest_neighbour() -> None:
    rng = np.random.default_rng(3)
    tiny = rng.integers(0, 256, (4, 4, 4), dtype=np.uint8)
    tiny[..., 3] = 255
    arr, notes = read_image(png_bytes(Image.fromarray(tiny)), 16)
    assert np.array_equal(arr, upscale(tiny, 4))
    assert notes == ["Resized from 4x4 to 16x16."]
    assert resize_rgba(tiny, 6).shape == (6, 6, 4)


def _mutations() -> st.SearchStrategy[bytes]:
    sprite = SPRITES["mushroom"].to_array()
    seeds = []
    for fmt, kw in (("PNG", {}), ("GIF", {}), ("BMP", {}), ("JPEG", {}), ("WEBP", {})):
        img = Image.fromarray(sprite if fmt in ("PNG", "GIF", "WEBP") else sprite[..., :3])
        buf = io.BytesIO()
        img.save(buf, format=fmt, **kw)
        seeds.append(buf.getvalue())

    def mutate(args: tuple[int, list[tuple[int, int]], int]) -> bytes:
        which, flips, cut = args
        data = bytearray(seeds[which % len(seeds)])
        for pos, value in flips:
            data[pos % len(data)] = value
        return bytes(data[: max(1, len(data) - cut)])

    flips = st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=6)
    return st.tuples(st.integers(0, 4), flips, st.integers(0, 300)).map(mutate)


MAGIC = [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF89a", b"RIFF\x00\x01\x00\x00WEBP", b"BM"]


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=600),
                 st.tuples(st.sampled_from(MAGIC), st.binary(max_size=400)).map(b"".join),
                 _mutations()))
def test_any_bytes_give_a_sprite_or_a_sprite_error(data: bytes) -> None:
    try:
        arr, notes = read_image(data, 8)
    except SpriteError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert arr.shape == (8, 8, 4) and arr.dtype == np.uint8
    assert all(isinstance(n, str) for n in notes)


# The share codec -------------------------------------------------------------------------------
@pytest.mark.parametrize(("code", "text"), [
    ("", "empty"),
    ("   ", "empty"),
    ("hello", "not a sprite code"),
    (CODE_PREFIX, "damaged"),
    (CODE_PREFIX + "!!!!", "damaged"),
    (CODE_PREFIX + "abc=", "damaged"),
    (CODE_PREFIX + "A", "damaged"),
    (CODE_PREFIX + "AAAAAAAA", "damaged"),
    (CODE_PREFIX + "A" * 20_000, "limit is 20000"),
    (code_for(b"\x07\x04\x04"), "damaged"),
    (code_for(bytes([0, 0, 4, 0]) + bytes(4)), "1 to 64"),
    (code_for(bytes([1, 65, 1]) + bytes(65 * 4)), "1 to 64"),
    (code_for(bytes([0, 2, 2, 1]) + bytes(8) + bytes([0, 1, 2, 0])), "damaged"),
    (code_for(bytes([0, 2, 2, 1]) + bytes(8) + bytes([0, 1, 1])), "damaged"),
    (code_for(bytes([1, 2, 2]) + bytes(15)), "damaged"),
    (code_for(bytes([2, 2, 2]) + bytes(17)), "damaged"),
    (code_for(b"\x00" * 10_000_000), "more than a 64x64"),
])
def test_hostile_codes_are_refused_clearly(code: str, text: str) -> None:
    start = time.perf_counter()
    with pytest.raises(SpriteError, match=text) as info:
        decode_sprite(code)
    assert time.perf_counter() - start < 1.0
    assert "\n" not in str(info.value)


def test_more_hostile_codes() -> None:
    good = encode_sprite(SPRITES["heart"].to_array())
    import base64

    raw = base64.urlsafe_b64decode(good[len(CODE_PREFIX):] + "==")
    extra = CODE_PREFIX + base64.urlsafe_b64encode(raw + b"junk").rstrip(b"=").decode()
    with pytest.raises(SpriteError, match="damaged"):
        decode_sprite(extra)
    with pytest.raises(SpriteError, match="damaged"):
        decode_sprite(good[:-10])
    with pytest.raises(SpriteError):
        decode_sprite(b"v1.abc")  # type: ignore[arg-type]
    assert np.array_equal(decode_sprite(f"  {good}\n"), SPRITES["heart"].to_array())


def test_encode_refuses_what_it_cannot_share() -> None:
    with pytest.raises(SpriteError, match="64x64"):
        encode_sprite(np.zeros((65, 65, 4), np.uint8))
    with pytest.raises(SpriteError, match="RGBA"):
        encode_sprite(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(SpriteError, match="RGBA"):
        encode_sprite(np.zeros((8, 8, 4), np.float32))
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 4), dtype=np.uint8)
    with pytest.raises(SpriteError, match="too much fine detail"):
        encode_sprite(noise)  # incompressible: longer than the 20000-character cap
    photo_like = np.random.default_rng(0).integers(0, 256, (48, 48, 4), dtype=np.uint8)
    assert np.array_equal(decode_sprite(encode_sprite(photo_like)), photo_like)


@st.composite
def rgba_arrays(draw: st.DrawFn) -> np.ndarray:
    h, w = draw(st.integers(1, 20)), draw(st.integers(1, 20))
    if draw(st.booleans()):
        n = draw(st.integers(1, 6))
        palette = draw(hnp.arrays(np.uint8, (n, 4)))
        index = draw(hnp.arrays(np.uint8, (h, w), elements=st.integers(0, n - 1)))
        return palette[index]
    return draw(hnp.arrays(np.uint8, (h, w, 4)))


@settings(max_examples=200, deadline=None)
@given(rgba_arrays())
def test_codec_round_trips_exactly(arr: np.ndarray) -> None:
    code = encode_sprite(arr)
    assert URL_SAFE.fullmatch(code)
    out = decode_sprite(code)
    assert out.dtype == np.uint8 and np.array_equal(out, arr)


def test_codec_falls_back_when_there_are_many_colours() -> None:
    arr = np.zeros((20, 20, 4), np.uint8)
    arr[..., 0] = np.arange(400).reshape(20, 20) % 256
    arr[..., 1] = np.arange(400).reshape(20, 20) // 256
    arr[..., 3] = 255
    assert len(np.unique(arr.reshape(-1, 4), axis=0)) == 400
    assert np.array_equal(decode_sprite(encode_sprite(arr)), arr)


# Conversions -----------------------------------------------------------------------------------
def test_tensor_conversions() -> None:
    arr = SPRITES["frog"].to_array()
    t = to_tensor(arr)
    assert t.dtype == torch.float32 and tuple(t.shape) == (4, 16, 16)
    assert float(t.min()) >= 0.0 and float(t.max()) <= 1.0
    assert torch.allclose(t[:, 3, 5], torch.from_numpy(arr[3, 5]).float() / 255)
    assert np.array_equal(from_tensor(t), arr)
    assert np.array_equal(from_tensor(t.unsqueeze(0)), arr)
    wild = torch.tensor([[[-3.0, 0.5]], [[2.0, float("nan")]], [[0.2, 1.0]], [[1.0, 0.0]]])
    out = from_tensor(wild)
    assert out.dtype == np.uint8 and out.shape == (1, 2, 4)
    assert out[0, 0].tolist() == [0, 255, 51, 255] and out[0, 1].tolist() == [128, 0, 255, 0]
    rgb = from_tensor(torch.zeros(3, 2, 2))
    assert rgb.shape == (2, 2, 4) and (rgb[..., 3] == 255).all()
    with pytest.raises(SpriteError):
        from_tensor(torch.zeros(5, 2, 2))


def test_upscale_checkerboard_and_png() -> None:
    arr = SPRITES["heart"].to_array()
    big = upscale(arr, 3)
    assert big.shape == (48, 48, 4) and np.array_equal(big[::3, ::3], arr)
    assert np.array_equal(big[1::3, 2::3], arr)
    with pytest.raises(SpriteError):
        upscale(arr, 0)
    view = checkerboard_composite(big, cell=6)
    assert view.shape == (48, 48, 3) and view.dtype == np.uint8
    opaque = big[..., 3] == 255
    assert np.array_equal(view[opaque], big[opaque][:, :3])
    assert tuple(view[0, 0]) != tuple(view[0, 6])  # transparent corner shows the board
    assert set(np.unique(view[~opaque])) <= {204, 240}
    half = np.array([[[0, 0, 0, 128]]], np.uint8)
    assert 100 <= int(checkerboard_composite(half)[0, 0, 0]) <= 130
    png = to_png_bytes(arr)
    assert png.startswith(b"\x89PNG")
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png))), arr)
    assert to_png_bytes(view)[:4] == b"\x89PNG"


def test_module_stays_free_of_streamlit() -> None:
    modules = sorted(Path(sprites.__file__).parent.glob("*.py"))
    assert len(modules) > 1  # the package, not one file
    for module in modules:
        assert "streamlit" not in module.read_text(), module.name
