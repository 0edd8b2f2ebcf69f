"""Pixel-art editor: a Streamlit custom component (v2) that paints an RGBA sprite cell by cell.

Data flow. Python sends the grid to the browser in `data` as one hex string ("rrggbbaa" per pixel,
row-major) with a `version` token. At the end of each stroke (pointer-up, a fill or Clear) the
browser calls `setStateValue("edit", {"base": version, "pixels": hex})`, which reruns the script;
`pixel_editor` decodes, validates and returns that grid. The version only changes when the caller's
sprite changes for another reason than being our own edit fed back, so the browser knows when to
load new pixels and Python knows when a stored edit has gone stale.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import streamlit as st

MIN_SIZE, MAX_SIZE = 4, 64
TARGET_PX = 448  # the grid's side in CSS pixels; sizes 4..64 land in 399..448
MAX_SPRITE_COLOURS = 24  # the sprite's most frequent colours shown before the base palette
# PICO-8's 16 colours: a well-known, balanced pixel-art palette.
BASE_PALETTE = (
    "#000000", "#1d2b53", "#7e2553", "#008751", "#ab5236", "#5f574f", "#c2c3c7", "#fff1e8",
    "#ff004d", "#ffa300", "#ffec27", "#00e436", "#29adff", "#83769c", "#ff77a8", "#ffccaa",
)
STATE = "edit"  # the component state key the browser writes
_HEX_DIGITS = re.compile(r"[0-9a-fA-F]*")
_COLOUR = re.compile(r"#?([0-9a-fA-F]{6}|[0-9a-fA-F]{8})")

_HTML = """
<div class="pe">
  <div class="pe-bar">
    <div class="pe-tools" role="group" aria-label="Tool">
      <button type="button" data-tool="pen" title="Click or drag to paint">Pen</button>
      <button type="button" data-tool="fill" title="Fill an area of one colour">Fill</button>
      <button type="button" data-tool="erase" title="Make pixels transparent">Eraser</button>
    </div>
    <span class="pe-current" title="Current colour"></span>
    <button type="button" class="pe-clear" title="Make every pixel transparent">Clear</button>
  </div>
  <div class="pe-swatches">
    <div class="pe-palette" role="group" aria-label="Palette"></div>
    <label class="pe-pick" title="Add any colour">+<input type="color" aria-label="Add colour"></label>
  </div>
  <div class="pe-stage"><canvas></canvas><div class="pe-hover" hidden></div></div>
  <div class="pe-hint">Click or drag to paint; right-drag erases.</div>
</div>
"""

_CSS = """
.pe { --chk: repeating-conic-gradient(#d9d9d9 0 25%, #fff 0 50%) 0 0 / 10px 10px;
  display: flex; flex-direction: column; gap: 8px; max-width: 100%; padding: 3px; user-select: none;
  font-family: var(--st-font, sans-serif); font-size: 14px; color: var(--st-text-color, #31333f); }
.pe-bar { display: flex; flex-wrap: wrap; align-items: center; gap: 8px; }
.pe button, .pe-pick { font: inherit; color: inherit; cursor: pointer; }
.pe-tools { display: inline-flex; border-radius: var(--st-base-radius, 8px); overflow: hidden;
  border: 1px solid var(--st-border-color, #d5dae5); }
.pe-tools button { border: 0; background: transparent; padding: 4px 12px; }
.pe-tools button + button { border-left: 1px solid var(--st-border-color, #d5dae5); }
.pe-tools button[aria-pressed="true"] { background: var(--st-primary-color, #ff4b4b); color: #fff; }
.pe-current { width: 26px; height: 26px; border-radius: 6px; background: var(--chk);
  box-shadow: inset 0 0 0 1px rgba(128, 128, 128, .6); position: relative; overflow: hidden; }
.pe-current::after { content: ""; position: absolute; inset: 0; background: var(--c); }
.pe-pick { width: 20px; height: 20px; box-sizing: border-box; border-radius: 4px; line-height: 1;
  border: 1px dashed rgba(128, 128, 128, .9); display: grid; place-items: center; position: relative; }
.pe-pick input { position: absolute; inset: 0; width: 100%; height: 100%; opacity: 0; cursor: pointer; }
.pe-clear { margin-left: auto; padding: 4px 12px; background: transparent;
  border: 1px solid var(--st-border-color, #d5dae5); border-radius: var(--st-button-radius, 8px); }
.pe button:hover { border-color: var(--st-primary-color, #ff4b4b); }
.pe-swatches { display: flex; flex-wrap: wrap; gap: 3px; }
.pe-palette { display: contents; }
.pe-swatch { width: 20px; height: 20px; padding: 0; border-radius: 4px; background: var(--chk);
  border: 1px solid rgba(128, 128, 128, .6); position: relative; overflow: hidden; }
.pe-swatch::after { content: ""; position: absolute; inset: 0; background: var(--c); }
.pe-swatch[aria-pressed="true"] { outline: 2px solid var(--st-primary-color, #ff4b4b);
  outline-offset: 1px; }
.pe-stage { position: relative; width: fit-content; max-width: 100%; line-height: 0;
  outline: 1px solid rgba(128, 128, 128, .7); }
.pe-stage canvas { display: block; max-width: 100%; height: auto; touch-action: none;
  cursor: crosshair; image-rendering: pixelated; }
.pe-hover { position: absolute; pointer-events: none;
  box-shadow: inset 0 0 0 1px #fff, 0 0 0 1px #000; }
.pe-hint { font-size: 12px; opacity: .65; }
"""

_JS = """
const CLEAR = "00000000";
const memory = new Map();  // editor key -> tool, colour, custom colours (outlives remounts)
const editors = new WeakMap();  // mounted root element -> its live Editor

const norm = (c) => { c = c.replace("#", "").toLowerCase(); return c.length === 6 ? c + "ff" : c; };

function* line(a, b) {  // Bresenham: fast drags still paint every cell in between
  let { x, y } = a;
  const dx = Math.abs(b.x - x), dy = -Math.abs(b.y - y);
  const sx = x < b.x ? 1 : -1, sy = y < b.y ? 1 : -1;
  for (let err = dx + dy; ; ) {
    yield [x, y];
    if (x === b.x && y === b.y) return;
    const e2 = 2 * err;
    if (e2 >= dy) { err += dy; x += sx; }
    if (e2 <= dx) { err += dx; y += sy; }
  }
}

class Editor {
  constructor(root) {
    this.root = root;
    this.canvas = root.querySelector("canvas");
    this.ctx = this.canvas.getContext("2d");
    this.hover = root.querySelector(".pe-hover");
    this.picker = root.querySelector("input[type=color]");
    this.n = 0; this.grid = []; this.version = null; this.seen = null; this.mine = [];
    this.stroke = null; this.dirty = false;
    this.bind();
  }

  bind() {
    const c = this.canvas, on = (el, ev, fn) => el.addEventListener(ev, fn);
    on(c, "pointerdown", (e) => this.down(e));
    on(c, "pointermove", (e) => this.move(e));
    for (const ev of ["pointerup", "pointercancel", "lostpointercapture"]) {
      on(c, ev, () => this.up());
    }
    on(c, "pointerleave", () => { this.hover.hidden = true; });
    on(c, "contextmenu", (e) => e.preventDefault());
    on(this.root.querySelector(".pe-tools"), "click", (e) => {
      const b = e.target.closest("[data-tool]"); if (b) this.setTool(b.dataset.tool);
    });
    on(this.root.querySelector(".pe-palette"), "click", (e) => {
      const b = e.target.closest("[data-color]"); if (b) this.setColor(b.dataset.color);
    });
    on(this.picker, "input", () => this.setColor(norm(this.picker.value)));
    on(this.picker, "change", () => this.addCustom(norm(this.picker.value)));
    on(this.root.querySelector(".pe-clear"), "click", () => this.clear());
  }

  update(data) {
    if (this.key !== data.key) {
      this.key = data.key;
      if (!memory.has(data.key)) memory.set(data.key, { tool: "pen", color: null, custom: [] });
      this.ui = memory.get(data.key);
    }
    const resized = data.size !== this.n || data.cell !== this.cell;
    if (resized) { this.n = data.size; this.cell = data.cell; this.layout(); }
    const external = data.pixels !== this.seen && !this.mine.includes(data.pixels);
    if (resized || data.version !== this.version) this.mine = [];
    if (resized || external || data.version !== this.version) this.load(data.pixels);
    this.version = data.version; this.seen = data.pixels;
    this.palette = data.palette.map(norm);
    if (!this.ui.color) this.ui.color = this.palette[0] || "000000ff";
    this.renderControls();
  }

  layout() {  // integer cell edges in device pixels keep every cell crisp, whatever the zoom
    const css = this.n * this.cell, dpr = window.devicePixelRatio || 1;
    const side = Math.round(css * dpr);
    this.canvas.width = this.canvas.height = side;
    this.canvas.style.width = css + "px";
    this.root.style.width = Math.max(css, 320) + "px";  // palette wraps at the grid's width
    this.edges = Array.from({ length: this.n + 1 }, (_, k) => Math.round((k * side) / this.n));
    this.lw = Math.max(1, Math.floor(dpr));
  }

  load(pixels) {
    this.grid = pixels.match(/.{8}/g) || [];
    this.stroke = null; this.dirty = false;
    for (let i = 0; i < this.grid.length; i++) this.paint(i);
  }

  paint(i) {
    const { ctx, n, edges, lw } = this, x = i % n, y = (i / n) | 0, hex = this.grid[i];
    const x0 = edges[x], y0 = edges[y], w = edges[x + 1] - x0, h = edges[y + 1] - y0;
    const alpha = parseInt(hex.slice(6), 16);
    if (alpha < 255) this.checker(x, y, x0, y0, w, h);
    if (alpha > 0) { ctx.fillStyle = "#" + hex; ctx.fillRect(x0, y0, w, h); }
    ctx.fillStyle = "rgba(128, 128, 128, 0.45)";
    if (x > 0) ctx.fillRect(x0, y0, lw, h);
    if (y > 0) ctx.fillRect(x0, y0, w, lw);
  }

  checker(x, y, x0, y0, w, h) {  // one square per cell: finer squares would read as pixels
    this.ctx.fillStyle = (x + y) % 2 ? "#e8e8e8" : "#ffffff";
    this.ctx.fillRect(x0, y0, w, h);
  }

  cellAt(e) {
    const r = this.canvas.getBoundingClientRect();
    const x = Math.floor(((e.clientX - r.left) / r.width) * this.n);
    return { x, y: Math.floor(((e.clientY - r.top) / r.height) * this.n) };
  }

  inside(p) { return p.x >= 0 && p.y >= 0 && p.x < this.n && p.y < this.n; }

  set(x, y, ink) {
    if (!this.inside({ x, y })) return;
    const i = y * this.n + x;
    if (this.grid[i] === ink) return;
    this.grid[i] = ink; this.dirty = true; this.paint(i);
  }

  down(e) {
    if (e.button !== 0 && e.button !== 2) return;
    e.preventDefault();
    const p = this.cellAt(e), erase = e.button === 2 || this.ui.tool === "erase";
    const ink = erase ? CLEAR : this.ui.color;
    if (this.ui.tool === "fill" && !erase) {
      if (this.inside(p)) this.fill(p, ink);
      this.commit();
      return;
    }
    this.canvas.setPointerCapture(e.pointerId);
    this.stroke = { ink, last: p };
    this.set(p.x, p.y, ink);
  }

  move(e) {
    const p = this.cellAt(e);
    this.showHover(p);
    if (!this.stroke) return;
    for (const [x, y] of line(this.stroke.last, p)) this.set(x, y, this.stroke.ink);
    this.stroke.last = p;
  }

  up() { if (this.stroke) { this.stroke = null; this.commit(); } }

  fill(p, ink) {  // 4-connected flood fill over cells of exactly the clicked colour
    const { n, grid } = this, target = grid[p.y * n + p.x];
    if (target === ink) return;
    const todo = [[p.x, p.y]];
    while (todo.length) {
      const [x, y] = todo.pop();
      if (!this.inside({ x, y }) || grid[y * n + x] !== target) continue;
      this.set(x, y, ink);
      todo.push([x + 1, y], [x - 1, y], [x, y + 1], [x, y - 1]);
    }
  }

  clear() {
    this.grid.forEach((_, i) => this.set(i % this.n, (i / this.n) | 0, CLEAR));
    this.commit();
  }

  commit() {  // one rerun per stroke: send the whole grid, tagged with the version it was drawn on
    if (!this.dirty) return;
    this.dirty = false;
    const pixels = this.grid.join("");
    this.mine = [...this.mine.slice(-7), pixels];
    this.send("edit", { base: this.version, pixels });
  }

  showHover(p) {
    if (!this.inside(p)) { this.hover.hidden = true; return; }
    const s = this.canvas.getBoundingClientRect().width / this.n, st = this.hover.style;
    this.hover.hidden = false;
    st.left = p.x * s + "px"; st.top = p.y * s + "px"; st.width = st.height = s + "px";
  }

  setTool(tool) { this.ui.tool = tool; this.renderControls(); }

  setColor(color) {
    this.ui.color = color;
    if (this.ui.tool === "erase") this.ui.tool = "pen";
    this.renderControls();
  }

  addCustom(color) {
    const known = this.palette.includes(color) || this.ui.custom.includes(color);
    if (!known) this.ui.custom.push(color);
    this.setColor(color);
  }

  renderControls() {
    const { tool, color } = this.ui, erase = tool === "erase";
    const press = (b, on) => b.setAttribute("aria-pressed", on);
    for (const b of this.root.querySelectorAll("[data-tool]")) press(b, b.dataset.tool === tool);
    const colours = [...this.palette, ...this.ui.custom.filter((c) => !this.palette.includes(c))];
    const box = this.root.querySelector(".pe-palette");
    if (box.dataset.colours !== colours.join()) {
      box.dataset.colours = colours.join();
      box.replaceChildren(...colours.map((c) => {
        const b = document.createElement("button");
        b.type = "button"; b.className = "pe-swatch"; b.dataset.color = c; b.title = "#" + c;
        b.style.setProperty("--c", "#" + c);
        return b;
      }));
    }
    for (const b of box.children) press(b, !erase && b.dataset.color === color);
    const current = this.root.querySelector(".pe-current");
    current.style.setProperty("--c", erase ? "transparent" : "#" + color);
    this.picker.value = "#" + color.slice(0, 6);
  }
}

export default function (component) {
  const { data, parentElement, setStateValue } = component;
  const root = parentElement.querySelector(".pe");
  let editor = editors.get(root);
  if (!editor) { editor = new Editor(root); editors.set(root, editor); }
  editor.send = setStateValue;
  editor.update(data);
}
"""

_COMPONENT = st.components.v2.component(
    "playground_pixel_editor", html=_HTML, css=_CSS, js=_JS
)


@dataclass(frozen=True)
class Edit:
    """A finished stroke as sent by the browser: the whole grid plus the version it was drawn on."""

    base: str
    pixels: np.ndarray


def check_sprite(pixels: np.ndarray) -> np.ndarray:
    """A clean copy of `pixels`; fail loudly on a caller's mistake rather than draw garbage."""
    if not isinstance(pixels, np.ndarray) or pixels.dtype != np.uint8:
        raise TypeError("pixels must be a uint8 numpy array of shape (H, W, 4)")
    if pixels.ndim != 3 or pixels.shape[2] != 4 or pixels.shape[0] != pixels.shape[1]:
        raise ValueError(f"pixels must have shape (N, N, 4), got {pixels.shape}")
    if not MIN_SIZE <= pixels.shape[0] <= MAX_SIZE:
        raise ValueError(f"sprite side must be {MIN_SIZE}..{MAX_SIZE}, got {pixels.shape[0]}")
    return clear_hidden(pixels.copy())


def clear_hidden(grid: np.ndarray) -> np.ndarray:
    """Zero RGB under alpha 0 so equal-looking sprites are equal arrays (in place, returned)."""
    grid[grid[..., 3] == 0, :3] = 0
    return grid


def encode_pixels(grid: np.ndarray) -> str:
    """The compact wire format: 'rrggbbaa' per pixel, row-major, lowercase."""
    return np.ascontiguousarray(grid, dtype=np.uint8).tobytes().hex()


def decode_pixels(text: object, size: int) -> np.ndarray | None:
    """Parse the wire format back to (size, size, 4) uint8, or None if it is malformed."""
    if not isinstance(text, str) or len(text) != size * size * 8:
        return None
    if not _HEX_DIGITS.fullmatch(text):  # bytes.fromhex alone would accept spaces
        return None
    flat = np.frombuffer(bytes.fromhex(text), dtype=np.uint8)
    return clear_hidden(flat.reshape(size, size, 4).copy())


def parse_edit(raw: object, size: int) -> Edit | None:
    """Validate what the browser stored; anything malformed counts as no edit instead of a crash."""
    if not isinstance(raw, Mapping) or not isinstance(raw.get("base"), str):
        return None
    pixels = decode_pixels(raw.get("pixels"), size)
    return None if pixels is None else Edit(base=raw["base"], pixels=pixels)


def sprite_hash(grid: np.ndarray) -> str:
    """A short content hash; the shape is included so equal bytes of other sizes differ."""
    digest = hashlib.blake2b(repr(grid.shape).encode(), digest_size=8)
    digest.update(np.ascontiguousarray(grid).tobytes())
    return digest.hexdigest()


def colour_hex(rgba: Sequence[int]) -> str:
    """'#rrggbb' for opaque colours, '#rrggbbaa' otherwise (what <input type=color> can't show)."""
    r, g, b, a = (int(v) for v in rgba)
    return f"#{r:02x}{g:02x}{b:02x}" + ("" if a == 255 else f"{a:02x}")


def sprite_colours(grid: np.ndarray, limit: int = MAX_SPRITE_COLOURS) -> list[str]:
    """The sprite's visible colours, most used first: redrawing in its own palette is one click."""
    visible = grid.reshape(-1, 4)[grid.reshape(-1, 4)[:, 3] > 0]
    counts = Counter(map(bytes, visible))
    return [colour_hex(c) for c, _ in counts.most_common(limit)]


def normalise_palette(palette: Sequence[str]) -> list[str]:
    """Lowercase '#rrggbb[aa]' without duplicates; a bad entry is the caller's bug, so raise."""
    out: list[str] = []
    for colour in palette:
        if not isinstance(colour, str) or not _COLOUR.fullmatch(colour):
            raise ValueError(f"palette colours must be '#rrggbb' or '#rrggbbaa', got {colour!r}")
        hexed = "#" + colour.lstrip("#").lower()
        if hexed.endswith("ff") and len(hexed) == 9:
            hexed = hexed[:7]
        if hexed not in out:
            out.append(hexed)
    return out


def build_palette(grid: np.ndarray, palette: Sequence[str] | None) -> list[str]:
    """The caller's palette, or the sprite's own colours followed by the base palette."""
    if palette is not None:
        return normalise_palette(palette)
    return normalise_palette([*sprite_colours(grid), *BASE_PALETTE])


def default_cell_px(size: int) -> int:
    """Whole CSS pixels per cell so the grid is about TARGET_PX wide with no fractional cells."""
    return max(1, TARGET_PX // size)


def _check_cell_px(cell_px: int | None, size: int) -> int:
    """The cell size to draw with; reject nonsense early instead of rendering an unusable grid."""
    if cell_px is None:
        return default_cell_px(size)
    if isinstance(cell_px, bool) or not isinstance(cell_px, int) or not 2 <= cell_px <= 128:
        raise ValueError(f"cell_px must be an int in 2..128, got {cell_px!r}")
    return cell_px


def _check_key(key: str) -> str:
    """Streamlit's component ids reserve '__'; say so here instead of failing deep inside it."""
    if not isinstance(key, str) or not key or "__" in key:
        raise ValueError(f"key must be a non-empty str without '__', got {key!r}")
    return key


def _meta_key(key: str) -> str:
    """Where the editor keeps its bookkeeping in session state, next to the widget's own key."""
    return f"_pixel_editor_meta:{key}"


def _version(key: str, grid: np.ndarray) -> str:
    """A token that changes only when the caller's sprite changes, not when it is our own output."""
    digest = sprite_hash(grid)
    meta = st.session_state.get(_meta_key(key))
    if not isinstance(meta, dict):
        meta = {"gen": 0, "origin": digest, "input": digest, "out": None}
    elif digest != meta["input"]:
        if digest != meta["out"]:  # a different sprite arrived: start a new generation
            meta = {**meta, "gen": meta["gen"] + 1, "origin": digest}
        meta = {**meta, "input": digest}
    st.session_state[_meta_key(key)] = meta
    return f"{meta['gen']}-{meta['origin']}"


def reset_pixel_editor(key: str) -> None:
    """Start over from `pixels` on the next render, even when they equal the current ones.

    Use it for "Blank canvas" / "Start again" buttons: identical pixels can't signal a reset by
    content, and the browser may re-send its last edit, which this makes stale.
    """
    meta = st.session_state.get(_meta_key(key))
    if isinstance(meta, dict):
        st.session_state[_meta_key(key)] = {**meta, "gen": meta["gen"] + 1, "out": None}


def _remember_output(key: str, grid: np.ndarray) -> None:
    """Note what we returned, so the caller feeding it back as `pixels` isn't a new sprite."""
    meta = st.session_state[_meta_key(key)]
    st.session_state[_meta_key(key)] = {**meta, "out": sprite_hash(grid)}


def _stored_edit(key: str) -> Any:
    """The raw value the browser last stored under this key, if any."""
    state = st.session_state.get(key)
    return state.get(STATE) if isinstance(state, Mapping) else None


def _ignore() -> None:
    """Registering a callback makes 'edit' a declared state key; the rerun itself is all we need."""


def pixel_editor(
    pixels: np.ndarray,
    *,
    key: str,
    palette: list[str] | None = None,
    cell_px: int | None = None,
) -> np.ndarray | None:
    """Show an editable grid of `pixels`; return the edited sprite, or None until the user edits.

    `pixels` is uint8 (N, N, 4) RGBA with N in 4..64. The result is uint8 (N, N, 4) with RGB zeroed
    where alpha is 0. It stays the same until the next stroke; when `pixels` changes (other than by
    feeding the result back in), the editor shows the new sprite and returns None again.
    """
    grid, key = check_sprite(pixels), _check_key(key)
    size = grid.shape[0]
    cell, colours = _check_cell_px(cell_px, size), build_palette(grid, palette)
    version = _version(key, grid)
    edit = parse_edit(_stored_edit(key), size)
    if edit is not None and edit.base != version:
        edit = None  # drawn on a sprite the caller has since replaced
    shown = grid if edit is None else edit.pixels
    data = {"key": key, "size": size, "cell": cell, "version": version,
            "pixels": encode_pixels(shown), "palette": colours}
    _COMPONENT(key=key, data=data, on_edit_change=_ignore)
    if edit is None:
        return None
    _remember_output(key, edit.pixels)
    return edit.pixels.copy()


def edit_value(pixels: np.ndarray, base: str) -> dict[str, Any]:
    """The session-state value a browser stroke would store; lets tests drive the editor."""
    return {STATE: {"base": base, "pixels": encode_pixels(check_sprite(pixels))}}

