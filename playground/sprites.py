"""The sprite gallery, the safe upload loader and the compact share codec.

Every picture enters the playground through this module, as a uint8 RGBA array of shape
(H, W, 4) whose fully transparent pixels are (0, 0, 0, 0). Nothing here imports Streamlit.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import re
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps

__all__ = [
    "CODE_PREFIX", "MAX_PIXELS", "MAX_UPLOAD_BYTES", "SPRITES", "Sprite", "SpriteError",
    "checkerboard_composite", "decode_sprite", "encode_sprite", "from_tensor", "load_sprite",
    "read_image", "resize_rgba", "to_png_bytes", "to_tensor", "upscale",
]

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 4_000_000
MAX_SIZE = 2048
MAX_CODE_CHARS = 20_000
MAX_CODE_SIDE = 64
CODE_PREFIX = "v1."
ALLOWED_FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "BMP")

_HEX = re.compile(r"#[0-9a-fA-F]{6}")
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
_CODE_BODY = re.compile(r"[A-Za-z0-9_-]+")


class SpriteError(ValueError):
    """A picture or sprite code was refused; the message is one sentence a user can act on."""


# The sprite type ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sprite:
    """A hand-made gallery sprite: rows of palette characters, '.' being transparent."""

    name: str
    rows: tuple[str, ...]
    palette: Mapping[str, str] = field(hash=False)
    description: str = ""

    def __post_init__(self) -> None:
        """Check the drawing once, so a typo in a row fails at import, not in training."""
        object.__setattr__(self, "rows", tuple(self.rows))
        object.__setattr__(self, "palette", MappingProxyType(dict(self.palette)))
        if not _NAME.fullmatch(self.name):
            raise SpriteError(f"Sprite name {self.name!r} must be lowercase and URL-safe.")
        n = len(self.rows)
        if n == 0 or any(len(row) != n for row in self.rows):
            raise SpriteError(f"Sprite {self.name!r} must be square with rows of equal length.")
        for ch, colour in self.palette.items():
            if len(ch) != 1 or ch == "." or not _HEX.fullmatch(colour):
                raise SpriteError(f"Sprite {self.name!r} has a bad palette entry {ch!r}.")
        unknown = set("".join(self.rows)) - set(self.palette) - {"."}
        if unknown:
            raise SpriteError(f"Sprite {self.name!r} uses characters missing from its palette: "
                              f"{''.join(sorted(unknown))}.")

    @property
    def size(self) -> int:
        """Pixels per side (sprites are square)."""
        return len(self.rows)

    def to_array(self) -> np.ndarray:
        """The sprite as uint8 RGBA (size, size, 4); '.' becomes (0, 0, 0, 0)."""
        lut = {".": (0, 0, 0, 0)}
        for ch, colour in self.palette.items():
            lut[ch] = (int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16), 255)
        return np.array([[lut[ch] for ch in row] for row in self.rows], dtype=np.uint8)


def _sprite(name: str, description: str, palette: dict[str, str], rows: tuple[str, ...]) -> Sprite:
    """Shorthand that keeps the gallery table below readable."""
    return Sprite(name=name, rows=rows, palette=palette, description=description)


# The gallery ----------------------------------------------------------------------------------
# Drawn on a 16x16 (or 32x32) grid with a dark outline, a base colour, a shade on the lower right
# and a highlight on the upper left, the way hand-made pixel art is usually lit.
_GALLERY = (
    _sprite("heart", "A red heart with a shine: the classic first target.",
        {"k": "#2b0f1f", "r": "#e43b44", "d": "#a22633", "p": "#f77a80", "w": "#ffffff"},
        (
            "................",
            "..kkkk....kkkk..",
            ".kpprrk..krrrrk.",
            "kpwwprrkkrrrrrdk",
            "kpwprrrrrrrrrrdk",
            "kprrrrrrrrrrrrdk",
            "krrrrrrrrrrrrrdk",
            "krrrrrrrrrrrrddk",
            ".krrrrrrrrrrrdk.",
            "..krrrrrrrrrdk..",
            "...krrrrrrrdk...",
            "....krrrrrdk....",
            ".....krrrdk.....",
            "......krdk......",
            ".......kk.......",
            "................",
        )),
    _sprite("mushroom", "A spotted red mushroom with a friendly face.",
        {"k": "#1b1b2a", "r": "#d8323c", "d": "#9c1f2e", "w": "#fff4e0", "s": "#f2d3a0",
         "t": "#c89a60"},
        (
            "................",
            ".....kkkkkk.....",
            "...kkrrwwrrkk...",
            "..krrrwwwwrrrk..",
            ".krwwrrwwrrrrrk.",
            ".krwwwrrrrrwwdk.",
            "krwwwrrrrrrwwwdk",
            "krrwrrrrrrrrwwdk",
            "krrrrrrwwrrrrddk",
            "kdrrrrwwwwrrrddk",
            ".kddrrrrrrrrddk.",
            "..kkkkkkkkkkkk..",
            "...kssksskstk...",
            "...kssksskstk...",
            "...kssssssstk...",
            "....kkkkkkkk....",
        )),
    _sprite("invader", "A crab-shaped space invader.",
        {"k": "#1a1c2c", "g": "#38b764", "d": "#257179", "l": "#a7f070", "e": "#f4f4f4"},
        (
            "................",
            "................",
            "................",
            "....k.....k.....",
            "...kdk...kdk....",
            "....kgkkkgk.....",
            "...kgllggggk....",
            "..kggegggeggk...",
            ".kgdgggggggdgk..",
            ".kgkgdddddgkgk..",
            ".kdkdkkkkkdkdk..",
            "..k.kddkddk.k...",
            ".....kk.kk......",
            "................",
            "................",
            "................",
        )),
    _sprite("potion", "A round flask of bubbling purple potion.",
        {"k": "#1a1c2c", "g": "#c8e4f0", "w": "#ffffff", "c": "#a0673a", "b": "#6b4226",
         "p": "#8f3fd1", "q": "#5a2496", "l": "#c58bff"},
        (
            ".....kkkkkk.....",
            "....kccccbbk....",
            "....kcccccbk....",
            ".....kgwggk.....",
            ".....kgwggk.....",
            ".....kggggk.....",
            "....kggggggk....",
            "...kgwggggggk...",
            "..kgwggggggggk..",
            "..klwlllllllqk..",
            "..kpppppppppqk..",
            "..kpwpppppppqk..",
            "..kqppppppppqk..",
            "...kqppppppqk...",
            "....kqqppqqk....",
            ".....kkqqkk.....",
        )),
    _sprite("sword", "A steel sword with a golden crossguard.",
        {"k": "#1a1c2c", "w": "#f4f4f4", "s": "#94b0c2", "y": "#ffcd75", "o": "#c98434",
         "b": "#6b4226"},
        (
            "..............k.",
            ".............kwk",
            "............kwsk",
            "...........kwsk.",
            "..........kwsk..",
            ".........kwsk...",
            "........kwsk....",
            ".......kwsk.....",
            "..k...kwsk......",
            ".kyk.kwsk.......",
            "..kykwsk........",
            "...kosk.........",
            "..kbkyk.........",
            ".kbk.kyk........",
            "kyk...k.........",
            ".k..............",
        )),
    _sprite("ghost", "A floating ghost saying 'boo'.",
        {"k": "#1a1c2c", "g": "#dfe6ff", "d": "#9aa6d6", "l": "#ffffff", "e": "#29366f"},
        (
            "................",
            ".....kkkkkk.....",
            "....kgggggdk....",
            "...kglgggggdk...",
            "..kglgggggggdk..",
            ".kglgggggggggdk.",
            ".kgglegglegggdk.",
            ".kgglegglegggdk.",
            ".kgggggggggggdk.",
            ".kgggggggggggdk.",
            ".kggggeegggggdk.",
            ".kggggeegggggdk.",
            ".kggddggddggddk.",
            ".kddkkddkkddkk..",
            "..kk..kk..kk....",
            "................",
        )),
    _sprite("slime", "A blue slime with a cheeky grin.",
        {"k": "#12264a", "s": "#41a6f6", "d": "#3b5dc9", "w": "#ffffff"},
        (
            "................",
            "................",
            "................",
            ".......kk.......",
            "......ksdk......",
            "......kwdk......",
            ".....ksssdk.....",
            "....kksssdkk....",
            "..kksssssssdkk..",
            ".ksswksssskssdk.",
            "ksswskssssksssdk",
            "ksswssssssssssdk",
            "ksssssksskssssdk",
            "kdssssskksssssdk",
            ".kddddddddddddk.",
            "..kkkkkkkkkkkk..",
        )),
    _sprite("star", "A bright five-pointed star.",
        {"k": "#5a3a0a", "y": "#ffd541", "o": "#f09a1a", "e": "#1a1c2c", "w": "#fff7c2"},
        (
            "................",
            ".......kk.......",
            "......kyok......",
            "......kyok......",
            "......wyok......",
            ".kkkkkyyyokkkkk.",
            "koyyywyyyyyyyyok",
            ".kooyyeyyeyyook.",
            "..kkoyeyyeyokk..",
            "....kyyyyyok....",
            "....kyyyyyok....",
            "...kyyyooyyok...",
            "...kyookkoook...",
            "...kokk..kkok...",
            "....k......k....",
            "................",
        )),
    _sprite("key", "A golden key with a round bow.",
        {"k": "#4a2a0a", "y": "#f7c531", "d": "#c7851c", "w": "#fff3a3"},
        (
            "................",
            "................",
            "................",
            "....kk..........",
            "..kwydkk........",
            ".kwyddydk.......",
            ".kydkkddkkkkkkk.",
            "kydk..kyywwyyydk",
            "kddk..kydddydydk",
            ".kydkkydkkkdkydk",
            ".kddyyddk.kdkydk",
            "..kkddkk...kkddk",
            "....kk.......kk.",
            "................",
            "................",
            "................",
        )),
    _sprite("coin", "A spinning gold coin.",
        {"k": "#4a2a0a", "y": "#ffcd3c", "o": "#d98a1a", "l": "#fff3a3", "w": "#ffffff"},
        (
            "......kkkk......",
            "....kkyyyokk....",
            "...kyyyyyyyok...",
            "...kwyooooyok...",
            "..kwyoyloyoyok..",
            "..kwooyloyoook..",
            ".kyyoyyloyyoyok.",
            ".kyyoyyloyyoyok.",
            ".kyyoyyloyyoyok.",
            ".koyoyyloyyoyok.",
            "..kyooyloyoook..",
            "..koyoyloyoyok..",
            "...kyyooooyok...",
            "...kooyyyyook...",
            "....kkooookk....",
            "......kkkk......",
        )),
    _sprite("smiley", "A yellow smiley face.",
        {"k": "#4a3000", "y": "#ffd541", "o": "#f0a020", "e": "#1a1c2c", "w": "#fff7c2"},
        (
            "......kkkk......",
            "....kkyyyokk....",
            "...kyyyyyyyok...",
            "..kywyyyyyyyok..",
            ".kywyeyyeyyyyok.",
            ".kyyyeyyeyyyyok.",
            "kyyyyeyyeyyyyyok",
            "kyyyyyyyyyyyyyok",
            "kyyyyyyyyyyyyyok",
            "koyyeyyyyeyyyook",
            ".kyyyeyyeyyyyok.",
            ".koyyyeeyyyyook.",
            "..koyyyyyyyook..",
            "...kooyyyoook...",
            "....kkooookk....",
            "......kkkk......",
        )),
    _sprite("cat", "An orange tabby cat's face.",
        {"k": "#2b1a12", "o": "#f4a340", "d": "#c0702a", "p": "#f59ab0", "g": "#7bd957"},
        (
            "................",
            "..kk........kk..",
            ".kodk......kodk.",
            ".koodk....koodk.",
            ".kopodkkkkoopdk.",
            ".kopoooddooopdk.",
            ".koooooddoooodk.",
            ".kooooooooooodk.",
            ".koogkooookgodk.",
            "kooogkooookgoodk",
            "kkkooooooooookkk",
            ".koooooppoooodk.",
            ".kdoookkkkooodk.",
            "..kddooooooddk..",
            "...kkddddddkk...",
            ".....kkkkkk.....",
        )),
    _sprite("shield", "A knight's shield with a golden cross.",
        {"k": "#1a1c2c", "m": "#c2c3c7", "n": "#7a7c84", "b": "#3b5dc9", "c": "#29366f",
         "y": "#ffcd75"},
        (
            ".kkkkkkkkkkkkk..",
            "kmmmmmmmmmmmmnk.",
            "kmmmmmmmmmmmmnk.",
            "kmmbbbcyybbbcnk.",
            "kmmbbbcyybbbcnk.",
            "kmmccccyyccccnk.",
            "knmyyyyyyyyyynk.",
            ".kmyyyyyyyyyynk.",
            ".knmbbcyybbcmnk.",
            "..kmcbcyybbcnk..",
            "..kmmccyybcmnk..",
            "..knnmcyycmnk...",
            "...kknmyymnk....",
            ".....knmmnk.....",
            "......knnk......",
            ".......kk.......",
        )),
    _sprite("fish", "A clownfish swimming left.",
        {"k": "#1a1c2c", "o": "#f77622", "d": "#be4a2f", "w": "#f4f4f4", "f": "#feae34",
         "e": "#ffffff"},
        (
            "................",
            ".......k........",
            ".....kkfk.......",
            "....kffffk....k.",
            "...kfffffkk..kok",
            "..koowwooowkkook",
            ".koeowwooowooook",
            ".kokowwooowooook",
            "kdooowwooowooook",
            ".kooowwooowodook",
            ".kdoowwooowdkdok",
            "..kddwwoodwk.kdk",
            "...kkwwddkk...k.",
            ".....kkkk.......",
            "................",
            "................",
        )),
    _sprite("apple", "A shiny red apple with a leaf.",
        {"k": "#2b0f1f", "r": "#e43b44", "d": "#a22633", "w": "#ffb7b7", "b": "#6b4226",
         "g": "#63c74d"},
        (
            "..........kk....",
            ".......k.kggk...",
            "......kbkggggk..",
            "......kbkgggk...",
            "...kkkkbkkkkk...",
            "..krrrdbkrrrdk..",
            ".krrrrrrrrrrrdk.",
            ".krrwrrrrrrrrdk.",
            "krrwrrrrrrrrrrdk",
            "krrwrrrrrrrrrrdk",
            "krrrrrrrrrrrrrdk",
            "kdrrrrrrrrrrrrdk",
            ".kdrrrrrrrrrrdk.",
            "..kdrrrrrrrrdk..",
            "...kddrrrrddk...",
            "....kkddddkk....",
        )),
    _sprite("skull", "A grinning bone-white skull.",
        {"k": "#1a1c2c", "b": "#f4f0e0", "s": "#b8b09a"},
        (
            "......kkkk......",
            "....kkbbbskk....",
            "...kbbbbbbbsk...",
            "..kbbbbbbbbbsk..",
            ".kbbbbbbbbbbbsk.",
            ".kbbbbbbbbbbbsk.",
            ".kbbbbbbbbbbbsk.",
            ".kbbkkkbbkkkbsk.",
            ".kbbkkkbbkkkbsk.",
            ".kbbbkbbbbkbbsk.",
            ".ksbbbbkkbbbbsk.",
            "..ksbbbbbbbbsk..",
            "...kbkbkbkbkk...",
            "...kbbbbbbbsk...",
            "...kssssssssk...",
            "....kkkkkkkk....",
        )),
    _sprite("flower", "A pink flower on a leafy stem.",
        {"k": "#1a1c2c", "p": "#f77a9a", "q": "#c23c6a", "y": "#ffd541", "o": "#f09a1a",
         "g": "#38b764", "d": "#257179", "w": "#fff7c2"},
        (
            "......kqqk......",
            ".....kqppqk.....",
            ".....kqppqk.....",
            "..kkkkqppqkkkk..",
            ".kqqqqqqqqqqqqk.",
            "kqpppqywyoqpppqk",
            "kqpppqyyyoqpppqk",
            ".kqppqyyyoqppqk.",
            "..kqqqooooqqqk..",
            "..kqpppqqpppqk..",
            "..kqpppqqpppqk..",
            ".kgqpppqqpppqdk.",
            ".kddqqqggqqqddk.",
            "..kkddkgdkkkkk..",
            "....kkkgdk......",
            "......kddk......",
        )),
    _sprite("gem", "A cut blue diamond.",
        {"k": "#1a1c2c", "c": "#41a6f6", "l": "#73eff7", "w": "#ffffff", "b": "#3b5dc9",
         "d": "#29366f"},
        (
            "................",
            "....kkkkkkk.....",
            "...kwwccccbk....",
            "...kwwccccbbk...",
            "..kwwwccccbbbk..",
            ".kcwwccccccbbbk.",
            "kllllllllllllllk",
            ".kccbbbbcccddddk",
            "..kccbbbcccdddk.",
            "...kcbbbcccddk..",
            "...kccbbccddk...",
            "....kcbbccdk....",
            ".....kcbcdk.....",
            "......kbck......",
            ".......kk.......",
            "................",
        )),
    _sprite("frog", "A happy green frog.",
        {"k": "#1a1c2c", "g": "#5ac54f", "d": "#33984b", "w": "#ffffff", "p": "#f5a0b5",
         "l": "#99e65f"},
        (
            "................",
            "................",
            "...kkk....kkk...",
            "..kgggk..kgggk..",
            ".kgwwggkkgwwggk.",
            ".kgwkggkkgkwggk.",
            ".kdggggggggggdk.",
            "..kggggggggggk..",
            ".kggggggggggggk.",
            "kgpgggggggggpggk",
            "kggkggggggggkggk",
            "kdggkkkkkkkkggdk",
            ".kdggggggggggdk.",
            "..lllllllllllk..",
            "...kkddddddkk...",
            ".....kkkkkk.....",
        )),
    _sprite("tree", "A leafy apple tree (32x32).",
        {"k": "#1a1c2c", "g": "#38b764", "d": "#257179", "l": "#a7f070", "b": "#8a5a30",
         "e": "#5a3820", "r": "#e43b44", "w": "#ffb7b7"},
        (
            "................k...............",
            ".............kkkdkkk............",
            "............kglgggddk...........",
            "...........klllllggddk..........",
            "..........klllllllggddk.........",
            ".........kglllllllgggddk........",
            ".......kkklllllllllggddkkk......",
            "......kgggglllllllggggggddk.....",
            ".....klllgglllllllgglllggddk....",
            "....klllllggwrlllgglllllggddk...",
            "...kglllllggrrllggglllllgggddk..",
            "...kglllllgglllllgglllllgggddk..",
            "...kgglllgglllllllgglllggggddk..",
            "...kdgggggglllllllggwrgggggddk..",
            "...kddggglglllllllglrrggggdddk..",
            "....kddglwrglllllglllggggdddk...",
            ".....kdllrrlglllglllllggdddk....",
            "......kglllgggwrgglllgggwrk.....",
            ".....kdgglggggrrggglggggrrdk....",
            "......kgggggggggggggggggddk.....",
            "......kdggggggggggggggggddk.....",
            "......kdddddddggggddddddddk.....",
            ".......kddddddgbeedddddddk......",
            "........kkkdkkbbeekkkdkkk.......",
            "...........kkbbbeek..k..........",
            "............kbbbeeek............",
            "............kbbbeeek............",
            "............kbbbeeek............",
            "...........kbbbbeeek............",
            "..........kbbbbbeeeek...........",
            ".........kbbbbbbeeeeek..........",
            "..........bbbbbbbbbbb...........",
        )),
    _sprite("rocket", "A red and white rocket blasting off (32x32).",
        {"k": "#1a1c2c", "w": "#f4f4f4", "s": "#94b0c2", "r": "#e43b44", "d": "#a22633",
         "b": "#41a6f6", "o": "#f77622", "y": "#ffcd75"},
        (
            "................................",
            "...............kk...............",
            "..............krdk..............",
            ".............krrrdk.............",
            "............krrrrdk.............",
            "............krrrrrdk............",
            "...........krrrrrrrdk...........",
            "..........krrrrrrrrrdk..........",
            "..........krrrrrrrrrdk..........",
            "..........kwwwwwwwwssk..........",
            ".........kwwwwkkkkwwssk.........",
            ".........kwwwkwwbkkwssk.........",
            ".........kwwwkwbbbkwssk.........",
            ".........kwwwkbbbbkwssk.........",
            "........kwwwwkbbbbkwssk.........",
            "........kwwwwkkbbkkwssk.........",
            "........kwwwwwkkkkwwssk.........",
            "........kwwwwwwwwwwwwwdk........",
            ".......krwwwwwwwwwwwwwrdk.......",
            "......krrwwwwwwwwwwwwwrrdk......",
            "......krrwwwwwrrrrwwwwrrdk......",
            ".....krrrwwwwwrrrrwwwwrrrdk.....",
            "....krrrrwwwwwrrrrwwwwrrrrdk....",
            "...krrrrrwwwwwrrrrwwwwrrrrdk....",
            "...krrrrdkksssssssssskdrrrdk....",
            "...krrrddkksssssssssskkddrdk....",
            "...krddkk..kooyyyyook..kkddk....",
            "...kdkk....kooyyyyook....kk.....",
            "....k.......kooyyook............",
            "............kooooook............",
            ".............kooook.............",
            "..............kook..............",
        )),
)

SPRITES: dict[str, Sprite] = {s.name: s for s in _GALLERY}


# Small shared helpers -------------------------------------------------------------------------
def _short(value: Any) -> str:
    """Quote user text without letting a 10 KB string into a message."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "...'"


def _mpx(pixels: int) -> str:
    """Megapixels as a short human number: 9, 4.2, 900."""
    value = pixels / 1e6
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}".rstrip("0").rstrip(".")


def _check_size(size: int) -> None:
    """Target sizes are whole pixels from 1 to MAX_SIZE; anything else is a caller's mistake."""
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or not 1 <= size <= MAX_SIZE:
        raise SpriteError(f"The sprite size must be a whole number from 1 to {MAX_SIZE}, "
                          f"not {_short(size)}.")


def _as_rgba(arr: Any) -> np.ndarray:
    """Insist on a uint8 (H, W, 4) array so shape mistakes fail here with a clear message."""
    arr = np.asarray(arr)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 4 or 0 in arr.shape:
        raise SpriteError(f"Expected a uint8 RGBA array of shape (H, W, 4), got {arr.dtype} "
                          f"{arr.shape}.")
    return arr


def _clear_transparent(arr: np.ndarray) -> np.ndarray:
    """Zero the colour of fully transparent pixels, so invisible colour never reaches a model."""
    arr[arr[..., 3] == 0, :3] = 0
    return arr


# Resizing -------------------------------------------------------------------------------------
def _pad_to(arr: np.ndarray, size: int) -> np.ndarray:
    """Centre a picture that fits inside size x size on a transparent square of that size."""
    h, w = arr.shape[:2]
    out = np.zeros((size, size, 4), dtype=np.uint8)
    top, left = (size - h) // 2, (size - w) // 2
    out[top:top + h, left:left + w] = arr
    return out


def _nearest(arr: np.ndarray, width: int, height: int) -> np.ndarray:
    """Nearest-neighbour resize: keeps pixel art crisp when scaling up."""
    rows = np.arange(height) * arr.shape[0] // height
    cols = np.arange(width) * arr.shape[1] // width
    return arr[rows][:, cols].copy()


def _box_premultiplied(arr: np.ndarray, width: int, height: int) -> np.ndarray:
    """Area-average downscale on premultiplied alpha, so hidden colours cannot bleed in."""
    alpha = arr[..., 3].astype(np.float32) / 255.0
    planes = [arr[..., c].astype(np.float32) * alpha for c in range(3)] + [alpha * 255.0]
    small = [np.asarray(Image.fromarray(p).resize((width, height), Image.Resampling.BOX))
             for p in planes]
    a = small[3]
    rgb = np.stack(small[:3], axis=-1) / np.where(a > 0, a / 255.0, 1.0)[..., None]
    out = np.concatenate([rgb, a[..., None]], axis=-1)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def resize_rgba(arr: np.ndarray, size: int) -> np.ndarray:
    """Square RGBA of size x size: keep the aspect, box down or nearest up, pad transparently."""
    # Resize before padding, so a 4,000,000x1 strip never becomes a 4,000,000-pixel-wide square.
    arr = _as_rgba(arr)
    _check_size(size)
    h, w = arr.shape[:2]
    n = max(h, w)
    if n != size:
        width, height = max(1, round(w * size / n)), max(1, round(h * size / n))
        arr = (_box_premultiplied if n > size else _nearest)(arr, width, height)
    return _clear_transparent(_pad_to(arr, size))


# Reading uploads ------------------------------------------------------------------------------
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


def _decode_upload(data: bytes) -> tuple[np.ndarray, list[str]]:
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
    return _clear_transparent(arr), notes


def read_image(data: bytes, size: int) -> tuple[np.ndarray, list[str]]:
    """Safely turn uploaded bytes into a size x size RGBA sprite plus notes for the user."""
    _check_size(size)
    arr, notes = _decode_upload(data)
    h, w = arr.shape[:2]
    if (h, w) != (size, size):
        padded = " (padded to a square with transparent borders)" if h != w else ""
        notes.append(f"Resized from {w}x{h} to {size}x{size}{padded}.")
    return resize_rgba(arr, size), notes


# Loading by name, code, bytes or path ---------------------------------------------------------
def _unknown_name(name: str) -> SpriteError:
    """The refusal for a name that is neither a sprite, a code nor a file, with suggestions."""
    some = ", ".join(list(SPRITES)[:8])
    return SpriteError(f"There is no sprite called {_short(name)}; try one of {some} "
                       f"({len(SPRITES)} in all).")


def _read_file(path: Path) -> bytes:
    """Read a local picture with the same size limit as an upload."""
    name = _short(path.name)
    try:
        size = path.stat().st_size if path.is_file() else None
        data = path.read_bytes() if size is not None and size <= MAX_UPLOAD_BYTES else b""
    except (OSError, ValueError):
        raise SpriteError(f"The file {name} could not be read.") from None
    if size is None:
        raise SpriteError(f"There is no file called {name} at that place.")
    if size > MAX_UPLOAD_BYTES:
        raise SpriteError(f"The file is {size / 2**20:.1f} MB; the limit is "
                          f"{MAX_UPLOAD_BYTES / 2**20:.0f} MB.")
    return data


def _existing_file(text: str) -> Path | None:
    """The path a string names, if it is a readable-looking file (odd strings are not paths)."""
    try:
        path = Path(text)
        return path if len(text) < 4096 and path.is_file() else None
    except (OSError, ValueError):
        return None


def _load_native(source: Any) -> np.ndarray:
    """Any supported source as RGBA at its own size (not yet squared)."""
    if isinstance(source, bytes | bytearray | memoryview):
        return _decode_upload(bytes(source))[0]
    if isinstance(source, Path):
        return _decode_upload(_read_file(source))[0]
    if not isinstance(source, str):
        raise SpriteError(f"A sprite source must be a name, a code, bytes or a path, not "
                          f"{type(source).__name__}.")
    if source in SPRITES:
        return SPRITES[source].to_array()
    path = _existing_file(source)
    if source.startswith(CODE_PREFIX) and path is None:
        return decode_sprite(source)
    if path is not None:
        return _decode_upload(_read_file(path))[0]
    raise _unknown_name(source)


def load_sprite(source: str | bytes | Path, size: int | None = None) -> np.ndarray:
    """A gallery name, share code, file bytes or path as square uint8 RGBA (size x size)."""
    if size is not None:
        _check_size(size)
    arr = _as_rgba(_load_native(source))
    if size is None:
        side = max(arr.shape[:2])
        size = side if side * side <= MAX_PIXELS else math.isqrt(MAX_PIXELS)
    return resize_rgba(arr, size)


# The share codec ------------------------------------------------------------------------------
# Layout before compression: kind, width, height, then for kind 0 (palette) the colour count minus
# one, the colours as RGBA bytes and one index byte per pixel; for kind 1 the RGBA bytes pixel by
# pixel; for kind 2 the same bytes plane by plane (smaller for photos). The shortest wins.
# zlib then URL-safe base64 without padding makes a 16x16 sprite about 100-200 characters.
_KIND_PALETTE = 0
_KIND_RAW = 1
_KIND_PLANAR = 2
_MAX_PAYLOAD = 4 + 256 * 4 + MAX_CODE_SIDE * MAX_CODE_SIDE * 4
_DAMAGED = "The sprite code in this link is damaged."


def _candidates(arr: np.ndarray) -> list[bytes]:
    """Every lossless layout of the sprite, before compression."""
    h, w = arr.shape[:2]
    flat = np.ascontiguousarray(arr).reshape(-1, 4)
    out = [bytes([_KIND_RAW, w, h]) + flat.tobytes(),
           bytes([_KIND_PLANAR, w, h]) + np.ascontiguousarray(arr.transpose(2, 0, 1)).tobytes()]
    colours, index = np.unique(flat.view(">u4").ravel(), return_inverse=True)
    if len(colours) <= 256:
        head = bytes([_KIND_PALETTE, w, h, len(colours) - 1])
        out.append(head + colours.astype(">u4").tobytes() + index.astype(np.uint8).tobytes())
    return out


def encode_sprite(arr: np.ndarray) -> str:
    """A short URL-safe text for a custom sprite (lossless), to put in a share link."""
    arr = _as_rgba(arr)
    h, w = arr.shape[:2]
    if h > MAX_CODE_SIDE or w > MAX_CODE_SIDE:
        raise SpriteError(f"Only sprites up to {MAX_CODE_SIDE}x{MAX_CODE_SIDE} pixels can be "
                          f"shared; this one is {w}x{h}.")
    packed = min((zlib.compress(body, 9) for body in _candidates(arr)), key=len)
    code = CODE_PREFIX + base64.urlsafe_b64encode(packed).rstrip(b"=").decode("ascii")
    if len(code) > MAX_CODE_CHARS:
        raise SpriteError(f"This sprite has too much fine detail for a link ({len(code)} "
                          f"characters; the limit is {MAX_CODE_CHARS}).")
    return code


def _inflate(raw: bytes) -> bytes:
    """Decompress at most what a 64x64 sprite can need, so a zip bomb stops early."""
    d = zlib.decompressobj()
    try:
        body = d.decompress(raw, _MAX_PAYLOAD + 1)
    except zlib.error:
        raise SpriteError(_DAMAGED) from None
    if len(body) > _MAX_PAYLOAD or d.unconsumed_tail:
        raise SpriteError("The sprite code in this link holds more than a 64x64 sprite.")
    if not d.eof or d.unused_data:
        raise SpriteError(_DAMAGED)
    return body


def _parse_payload(body: bytes) -> np.ndarray:
    """Rebuild the RGBA array from the decompressed bytes, checking every length and index."""
    if len(body) < 3 or body[0] not in (_KIND_PALETTE, _KIND_RAW, _KIND_PLANAR):
        raise SpriteError(_DAMAGED)
    w, h = body[1], body[2]
    if not (1 <= w <= MAX_CODE_SIDE and 1 <= h <= MAX_CODE_SIDE):
        raise SpriteError(f"The sprite code describes a {w}x{h} picture; sprites are 1 to "
                          f"{MAX_CODE_SIDE} pixels per side.")
    if body[0] in (_KIND_RAW, _KIND_PLANAR):
        if len(body) != 3 + w * h * 4:
            raise SpriteError(_DAMAGED)
        pixels = np.frombuffer(body, dtype=np.uint8, offset=3)
        if body[0] == _KIND_PLANAR:
            return pixels.reshape(4, h, w).transpose(1, 2, 0).copy()
        return pixels.reshape(h, w, 4).copy()
    if len(body) < 4:
        raise SpriteError(_DAMAGED)
    n = body[3] + 1
    start = 4 + 4 * n
    if len(body) != start + w * h:
        raise SpriteError(_DAMAGED)
    palette = np.frombuffer(body, dtype=np.uint8, count=4 * n, offset=4).reshape(n, 4)
    index = np.frombuffer(body, dtype=np.uint8, offset=start)
    if int(index.max()) >= n:
        raise SpriteError(_DAMAGED)
    return palette[index].reshape(h, w, 4).copy()


def decode_sprite(code: str) -> np.ndarray:
    """The RGBA array from a share code; hostile input gets a SpriteError, never a crash."""
    if not isinstance(code, str):
        raise SpriteError("The sprite code must be text.")
    code = code.strip()
    if not code:
        raise SpriteError("The sprite code is empty.")
    if len(code) > MAX_CODE_CHARS:
        raise SpriteError(f"The sprite code is {len(code)} characters long; the limit is "
                          f"{MAX_CODE_CHARS}.")
    if not code.startswith(CODE_PREFIX):
        raise SpriteError(f"This is not a sprite code (it should start with {CODE_PREFIX!r}).")
    text = code[len(CODE_PREFIX):]
    if not _CODE_BODY.fullmatch(text) or len(text) % 4 == 1:
        raise SpriteError(_DAMAGED)
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise SpriteError(_DAMAGED) from None
    return _parse_payload(_inflate(raw))


# Conversions shared by the engine and the UI --------------------------------------------------
def to_tensor(arr: np.ndarray) -> torch.Tensor:
    """uint8 RGBA (H, W, 4) as float32 (4, H, W) in [0, 1], the layout models train on."""
    arr = _as_rgba(arr)
    return torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1).float().div(255.0)


def from_tensor(t: torch.Tensor) -> np.ndarray:
    """A model's (4, H, W) or (3, H, W) output as uint8 RGBA, clamped and rounded (NaN -> 0)."""
    t = t.detach().to("cpu", torch.float32)
    if t.dim() == 4 and t.shape[0] == 1:
        t = t[0]
    if t.dim() != 3 or t.shape[0] not in (3, 4):
        raise SpriteError(f"Expected a (4, H, W) tensor, got shape {tuple(t.shape)}.")
    t = torch.nan_to_num(t, nan=0.0).clamp(0.0, 1.0).mul(255.0).round().to(torch.uint8)
    arr = t.permute(1, 2, 0).contiguous().numpy()
    if arr.shape[2] == 3:
        arr = np.concatenate([arr, np.full(arr.shape[:2] + (1,), 255, np.uint8)], axis=-1)
    return arr


def upscale(arr: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement: how pixel art is shown without blur."""
    if isinstance(factor, bool) or not isinstance(factor, int | np.integer) or not 1 <= factor <= 64:
        raise SpriteError(f"The upscale factor must be a whole number from 1 to 64, not "
                          f"{_short(factor)}.")
    arr = np.asarray(arr)
    return arr.repeat(factor, axis=0).repeat(factor, axis=1)


def checkerboard_composite(arr: np.ndarray, cell: int = 8) -> np.ndarray:
    """RGB preview with transparency shown over a light grey checkerboard."""
    arr = _as_rgba(arr)
    cell = max(1, int(cell))
    h, w = arr.shape[:2]
    yy, xx = np.indices((h, w))
    board = np.where(((yy // cell) + (xx // cell)) % 2 == 0, 240, 204).astype(np.uint32)
    alpha = arr[..., 3:].astype(np.uint32)
    rgb = arr[..., :3].astype(np.uint32)
    out = (rgb * alpha + board[..., None] * (255 - alpha) + 127) // 255
    return out.astype(np.uint8)


def to_png_bytes(arr: np.ndarray) -> bytes:
    """Exact-pixel PNG (RGBA or RGB uint8), for previews and downloads."""
    arr = np.asarray(arr)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise SpriteError(f"Expected a uint8 (H, W, 3 or 4) array, got {arr.dtype} {arr.shape}.")
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(arr)).save(buf, format="PNG")
    return buf.getvalue()
