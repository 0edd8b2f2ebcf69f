"""The sprite gallery as clickable thumbnails (a tiny inline component: no build step)."""

from __future__ import annotations

import streamlit as st

from playground import sprites
from playground.ui.images import CHECKER, data_uri

_CSS = """
.pg-gallery { display: grid; grid-template-columns: repeat(auto-fill, minmax(64px, 1fr)); gap: 6px; }
.pg-gallery button { display: flex; flex-direction: column; align-items: center; gap: 2px;
  padding: 6px 2px 3px; border: 1px solid var(--st-border-color, #ddd); border-radius: 8px;
  background: var(--st-background-color, #fff); cursor: pointer; font: inherit; font-size: 0.72rem;
  color: var(--st-text-color, #333); }
.pg-gallery button:hover { border-color: var(--st-primary-color, #ff4b4b); }
.pg-gallery button[aria-pressed="true"] { border: 2px solid var(--st-primary-color, #ff4b4b);
  background: rgba(255, 75, 75, 0.08); font-weight: 600; }
.pg-gallery img { width: 40px; height: 40px; image-rendering: pixelated; border-radius: 3px; }
"""

_JS = """
export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  let grid = parentElement.querySelector(".pg-gallery");
  if (!grid) {
    grid = document.createElement("div");
    grid.className = "pg-gallery";
    parentElement.appendChild(grid);
    grid.addEventListener("click", (e) => {
      const b = e.target.closest("button[data-name]");
      if (b) setTriggerValue("picked", b.dataset.name);
    });
  }
  const sig = data.items.map((i) => i.name).join(",") + "|" + data.selected;
  if (grid.dataset.sig === sig) return;
  grid.dataset.sig = sig;
  grid.replaceChildren(...data.items.map((item) => {
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.name = item.name;
    b.title = item.title;
    b.setAttribute("aria-pressed", String(item.name === data.selected));
    b.setAttribute("aria-label", "Train on " + item.name);
    const img = document.createElement("img");
    img.src = item.src; img.alt = item.name; img.style.cssText = data.checker;
    const label = document.createElement("span");
    label.textContent = item.name;
    b.append(img, label);
    return b;
  }));
}
"""

_COMPONENT = st.components.v2.component("playground_gallery", css=_CSS, js=_JS)


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
