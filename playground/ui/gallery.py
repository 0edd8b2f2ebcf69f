"""The sprite gallery as clickable thumbnails (a tiny inline component: no build step)."""

from __future__ import annotations

import streamlit as st

from playground import sprites
from playground.ui.assets import read_asset
from playground.ui.images import CHECKER, data_uri

_COMPONENT = st.components.v2.component(
    "playground_gallery", css=read_asset("gallery.css"), js=read_asset("gallery.js")
)


@st.cache_data(show_spinner=False)
def _items() -> list[dict[str, str]]:
    """Thumbnails are the same for everyone: encode them once per server."""
    return [{"name": name, "src": data_uri(s.to_array()),
             "title": f"{name} ({s.size}x{s.size}): {s.description}"}
            for name, s in sprites.SPRITES.items()]


def sprite_gallery(selected: str, key: str = "gallery") -> str | None:
    """Draw the gallery; returns the name just clicked (once), else None."""
    result = _COMPONENT(key=key, data={"items": _items(), "selected": selected,
                                       "checker": CHECKER},
                        on_picked_change=lambda: None)
    picked = getattr(result, "picked", None)
    return picked if picked in sprites.SPRITES else None
