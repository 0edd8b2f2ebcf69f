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
