"""Pixel art as HTML: exact-pixel PNG data URIs upscaled by the browser with nearest neighbour.

Data URIs survive fast refreshes better than media files, and the browser's `pixelated`
rendering keeps every pixel a crisp square at any display size.
"""

from __future__ import annotations

import base64
import collections
import html
import threading

import numpy as np

from playground import sprites

CHECKER = ("background-color:#fff;background-image:conic-gradient(#e4e4e4 25%,#fff 0 50%,"
           "#e4e4e4 0 75%,#fff 0);background-size:12px 12px;")


_URIS: collections.OrderedDict[int, tuple[np.ndarray, str]] = collections.OrderedDict()
_URIS_LOCK = threading.Lock()
URI_CACHE = 2048  # recent pictures: 50 open pages' filmstrips and latest images fit


def data_uri(arr: np.ndarray) -> str:
    """A PNG data URI of the exact pixels (cached per array object: published arrays never change,
    so a filmstrip frame is encoded once however often its page redraws)."""
    with _URIS_LOCK:  # every session's script thread draws through here
        hit = _URIS.get(id(arr))
        if hit is not None and hit[0] is arr:
            _URIS.move_to_end(id(arr))
            return hit[1]
    uri = "data:image/png;base64," + base64.b64encode(sprites.to_png_bytes(arr)).decode("ascii")
    with _URIS_LOCK:
        _URIS[id(arr)] = (arr, uri)
        while len(_URIS) > URI_CACHE:
            _URIS.popitem(last=False)
    return uri


def pixel_img(arr: np.ndarray, px: int, alt: str = "", checker: bool = True) -> str:
    """An <img> of `arr` shown px wide, crisp, over a checkerboard where it is transparent."""
    style = f"width:{px}px;height:{px}px;image-rendering:pixelated;border-radius:4px;"
    style += CHECKER if checker else ""
    return (f'<img src="{data_uri(arr)}" alt="{html.escape(alt)}" title="{html.escape(alt)}" '
            f'style="{style}">')


def figure(arr: np.ndarray, px: int, caption: str, checker: bool = True,
           border: bool = False) -> str:
    """An image with a small caption under it (a border where black would read as missing)."""
    img = pixel_img(arr, px, caption, checker)
    if border:
        img = img.replace('style="', 'style="outline:1px solid #bbb;', 1)
    return (f'<figure style="margin:0;text-align:center">{img}'
            f'<figcaption style="font-size:0.8rem;color:#555">{html.escape(caption)}'
            f"</figcaption></figure>")


def row(figures: list[str], gap: int = 16) -> str:
    """Figures side by side, wrapping on narrow screens."""
    return (f'<div style="display:flex;flex-wrap:wrap;gap:{gap}px;align-items:flex-start">'
            + "".join(figures) + "</div>")
