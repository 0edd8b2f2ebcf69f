"""The upload guard: untrusted bytes become an RGBA sprite, or one sentence saying why not.

The format is sniffed from the bytes and allow-listed, the pixel count is read from the header and
capped before Pillow decodes anything, and only the first frame is decoded, turned upright.
"""

from __future__ import annotations

import io
import re
import struct

import numpy as np
from PIL import Image, ImageOps

from playground.sprites.checks import SpriteError, check_size
from playground.sprites.pixels import clear_transparent, resize_rgba

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 4_000_000
ALLOWED_FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "BMP")
_UPLOAD = "upload PNG, JPEG, GIF, WEBP or BMP."
_REFUSALS = {
    "TIFF": f"This file is a TIFF image; {_UPLOAD}",
    "SVG": f"This file is an SVG drawing (vector text), not a pixel image; {_UPLOAD}",
    "HTML": f"This file is a web page (HTML), not an image; {_UPLOAD}",
    "PDF": f"This file is a PDF document; {_UPLOAD}",
    "HEIC": f"This file is a HEIC photo; {_UPLOAD}",
    "AVIF": f"This file is an AVIF image; {_UPLOAD}",
    "JPEG XL": f"This file is a JPEG XL image; {_UPLOAD}",
    "ICO": f"This file is an icon (ICO); {_UPLOAD}",
    "PSD": f"This file is a Photoshop document (PSD); {_UPLOAD}",
    "ZIP": f"This file is a ZIP archive; {_UPLOAD}",
    "text": f"This file is plain text, not an image; {_UPLOAD}",
    "unknown": f"This file is not an image we can read; {_UPLOAD}",
}


def _mpx(pixels: int) -> str:
    """Megapixels as a short human number: 9, 4.2, 900."""
    value = pixels / 1e6
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}".rstrip("0").rstrip(".")


# Sniffing and header checks -------------------------------------------------------------------
def _looks_like_text(head: bytes) -> bool:
    """True for UTF-8 text without control characters (a cut multi-byte tail is allowed)."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:
            return False
        text = head[:exc.start].decode("utf-8")
    return all(ch.isprintable() or ch in "\t\r\n\f\ufeff" for ch in text)


def _sniff(data: bytes) -> str:
    """What the file really is, from its first bytes, whatever its name claims."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    binary = not _looks_like_text(data[:64])  # GIF and BMP magic are plain letters
    if data[:6] in (b"GIF87a", b"GIF89a") and binary:
        return "GIF"
    if data.startswith(b"BM") and binary:
        return "BMP"
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "TIFF"
    if data.startswith(b"%PDF"):
        return "PDF"
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand in (b"avif", b"avis"):
            return "AVIF"
        if brand in (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1"):
            return "HEIC"
    if data.startswith(b"\xff\x0a") or data.startswith(b"\x00\x00\x00\x0cJXL "):
        return "JPEG XL"
    if data.startswith(b"\x00\x00\x01\x00"):
        return "ICO"
    if data.startswith(b"8BPS"):
        return "PSD"
    if data.startswith(b"PK\x03\x04"):
        return "ZIP"
    head = data[:2048]
    if _looks_like_text(head):
        lower = head.decode("utf-8", "ignore").lstrip("\ufeff \t\r\n").lower()
        if "<svg" in lower:
            return "SVG"
        if lower.startswith(("<!doctype html", "<html")):
            return "HTML"
        return "text"
    return "unknown"


def _declared_dims(data: bytes, kind: str) -> tuple[int, int] | None:
    """Width and height read from the header (PNG, GIF, BMP), before Pillow sees the file."""
    try:
        if kind == "PNG" and data[12:16] == b"IHDR":
            return struct.unpack(">II", data[16:24])
        if kind == "GIF":
            return struct.unpack("<HH", data[6:10])
        if kind == "BMP" and struct.unpack("<I", data[14:18])[0] >= 40:
            w, h = struct.unpack("<ii", data[18:26])
            return abs(w), abs(h)
    except struct.error:
        return None
    return None


def _too_many_pixels(w: int, h: int) -> SpriteError:
    """The refusal for a picture over our pixel cap (the usual decompression-bomb shape)."""
    return SpriteError(f"The image is {w}x{h} pixels ({_mpx(w * h)} Mpx); "
                       f"the limit is {_mpx(MAX_PIXELS)} Mpx.")


def _bomb_refusal(exc: BaseException) -> SpriteError:
    """Pillow's own bomb guard fired: say how big the image claims to be."""
    match = re.search(r"\((\d+) pixels\)", str(exc))
    size = f" ({_mpx(int(match.group(1)))} Mpx)" if match else ""
    return SpriteError(f"The image is far too large{size}; the limit is {_mpx(MAX_PIXELS)} Mpx.")


# Decoding -------------------------------------------------------------------------------------
def _frame_count(img: Image.Image) -> int:
    """Frames in an animation, 1 for a still image (a broken animation counts as still)."""
    try:
        return max(1, int(getattr(img, "n_frames", 1)))
    except Exception:
        return 1


def _upright(img: Image.Image, notes: list[str]) -> Image.Image:
    """Apply the EXIF orientation like a photo viewer; a broken EXIF block is ignored."""
    try:
        orientation = img.getexif().get(0x0112, 1)
        if orientation in (2, 3, 4, 5, 6, 7, 8):
            turned = ImageOps.exif_transpose(img)
            if turned is not None:
                notes.append("Turned upright as the photo's orientation tag says.")
                return turned
    except Exception:
        pass
    return img


def _grey16_to_8(values: np.ndarray, mode: str) -> np.ndarray:
    """Scale deep greyscale to 8 bits over its real range (Pillow's convert('L') clips it)."""
    v = values.astype(np.float64)
    if mode.startswith("I;16"):
        return np.rint(v / 257.0).astype(np.uint8)
    if not np.isfinite(v).all():
        v = np.nan_to_num(v, nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = float(v.min()), float(v.max())
    if mode == "F" and lo >= 0.0 and hi <= 1.0:
        return np.rint(v * 255.0).astype(np.uint8)
    if lo >= 0 and hi <= 255:
        return np.rint(v).astype(np.uint8)
    if lo >= 0 and hi <= 65535:
        return np.rint(v / 257.0).astype(np.uint8)
    return np.rint((v - lo) / (hi - lo) * 255.0).astype(np.uint8)


def _to_rgba_array(img: Image.Image) -> np.ndarray:
    """Any Pillow mode as uint8 RGBA, keeping alpha and palette transparency."""
    mode = img.mode
    if mode.startswith("I") or mode == "F":
        grey = _grey16_to_8(np.asarray(img), mode)
        alpha = np.full(grey.shape, 255, dtype=np.uint8)
        if "transparency" in img.info and isinstance(img.info["transparency"], int):
            alpha[np.asarray(img) == img.info["transparency"]] = 0
        return np.stack([grey, grey, grey, alpha], axis=-1)
    if mode not in ("RGBA", "RGBa", "LA", "La", "PA", "P", "L", "1", "RGB"):
        img = img.convert("RGB")  # CMYK, YCbCr and friends: no alpha to keep
    return np.array(img.convert("RGBA"), dtype=np.uint8)


def decode_upload(data: bytes) -> tuple[np.ndarray, list[str]]:
    """Untrusted bytes to a full-size RGBA array plus notes, refusing anything unsafe."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise SpriteError("The upload is not file data.")
    data = bytes(data)
    if not data:
        raise SpriteError("The file is empty.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise SpriteError(f"The file is {len(data) / 2**20:.1f} MB; the limit is "
                          f"{MAX_UPLOAD_BYTES / 2**20:.0f} MB.")
    kind = _sniff(data)
    if kind not in ALLOWED_FORMATS:
        raise SpriteError(_REFUSALS.get(kind, _REFUSALS["unknown"]))
    dims = _declared_dims(data, kind)
    if dims is not None and dims[0] * dims[1] > MAX_PIXELS:
        raise _too_many_pixels(*dims)
    try:
        return _decode_with_pillow(data, kind)
    except SpriteError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _bomb_refusal(exc) from None
    except MemoryError:
        raise SpriteError("The image is too large to open.") from None
    except Exception:
        if _looks_like_text(data[:2048]):
            raise SpriteError(_REFUSALS["text"]) from None
        raise SpriteError(f"The file starts like a {kind} image but could not be read "
                          "(it may be damaged).") from None


def _decode_with_pillow(data: bytes, kind: str) -> tuple[np.ndarray, list[str]]:
    """Open with an allow-list, check the pixel count, then decode only the first frame."""
    notes: list[str] = []
    with Image.open(io.BytesIO(data), formats=list(ALLOWED_FORMATS)) as img:
        w, h = img.size
        if w < 1 or h < 1:
            raise SpriteError("The image has no pixels.")
        if w * h > MAX_PIXELS:
            raise _too_many_pixels(w, h)
        frames = _frame_count(img)
        try:
            if frames > 1:
                img.seek(0)
            img.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise
        except Exception:
            raise SpriteError("The file is not a complete image (it may be truncated).") from None
        if frames > 1:
            notes.append(f"Animated image: used the first frame of {frames}.")
        arr = _to_rgba_array(_upright(img, notes))
    return clear_transparent(arr), notes


def read_image(data: bytes, size: int) -> tuple[np.ndarray, list[str]]:
    """Safely turn uploaded bytes into a size x size RGBA sprite plus notes for the user."""
    check_size(size)
    arr, notes = decode_upload(data)
    h, w = arr.shape[:2]
    if (h, w) != (size, size):
        padded = " (padded to a square with transparent borders)" if h != w else ""
        notes.append(f"Resized from {w}x{h} to {size}x{size}{padded}.")
    return resize_rgba(arr, size), notes
