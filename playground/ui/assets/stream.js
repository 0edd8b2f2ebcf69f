// The running live view's fast part: fetch the run's newest state from the server's stream route
// and draw the status line, the pictures and the curves here, so the page needs no Streamlit
// rerun to move. When the run leaves running/queued, tell the page (it redraws in full).
const BLUE = "#1f77b4", ORANGE = "#ff7f0e", RED = "#d62728", GRID = "#e6e6e6", INK = "#555";
const FONT = "11px 'Source Sans Pro', sans-serif";
const PAD = { left: 62, right: 12, top: 8, bottom: 36 };
const DIAG_MS = 1000;  // the diagnostics take new data once a second, the curves at every poll

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  const root = parentElement.querySelector(".pp-stream");
  const s = root.ppState || (root.ppState = { have: "", fails: 0, told: "", state: "", t0: 0 });
  s.data = data;
  s.trigger = setTriggerValue;
  s.stopped = false;
  root.querySelector(".pp-caption").textContent = data.caption;
  const had = s.have.split(":"), first = data.first.version.split(":");
  if (had[0] !== first[0] || settings(s.have) !== settings(data.first.version)) show(root, s, data.first);
  if (!s.inflight) schedule(root, s);  // (a poll in flight schedules the next itself)
  return () => { s.stopped = true; clearTimeout(s.timer); };
}

function settings(version) { return version.split(":").slice(2).join(":"); }  // run:rows:log:smoothing
function look(d) { return (d.log_y ? "1" : "0") + ":" + d.smoothing; }

// The next poll one interval after the last one began: the page's own reruns (every 2 s, for the
// panels under the stream) call the component again, and must not push the polls back.
function schedule(root, s) {
  clearTimeout(s.timer);
  const every = (s.state === "queued" ? s.data.queued_every : s.data.every) * 1000;
  s.timer = setTimeout(() => poll(root, s), Math.max(20, s.t0 + every - performance.now()));
}

async function poll(root, s) {
  if (s.stopped || !root.isConnected) return;
  s.t0 = performance.now();
  s.inflight = true;
  const d = s.data, url = new URL(d.url, window.location.href);
  const diag = s.t0 - (s.diagAt || -1e9) >= DIAG_MS || s.diagLook !== look(d);
  url.search = new URLSearchParams({ log_y: d.log_y ? "1" : "0", smoothing: d.smoothing, have: s.have,
                                     diag: diag ? "1" : "0" });
  try {
    const r = await fetch(url, { cache: "no-store", credentials: "same-origin" });
    if (!r.ok) throw new Error("HTTP " + r.status);
    const p = await r.json();
    s.fails = 0;
    show(root, s, p);
    if (!["running", "queued"].includes(p.state) && s.told !== p.state + p.version) {
      s.told = p.state + p.version;
      s.trigger("ended", s.told);  // the page reruns and draws the ended (or paused) run
    }
  } catch (e) {
    if (++s.fails === 3) s.trigger("failed", String(e));  // the page redraws by reruns instead
  } finally {
    s.inflight = false;
  }
  if (!s.stopped && root.isConnected) schedule(root, s);
}

function show(root, s, p) {
  s.state = p.state;
  s.have = p.version;
  root.querySelector(".pp-status").innerHTML = p.status;
  if (p.chart === undefined) return;  // the pictures and curves shown are this version's already
  const pics = root.querySelector(".pp-pictures");
  if (pics.ppHtml !== p.pictures) { pics.innerHTML = p.pictures; pics.ppHtml = p.pictures; }
  if (p.diagnostics !== undefined) {
    s.diagAt = performance.now();
    s.diagLook = look(s.data);
    showDiagnostics(root, p.diagnostics, p.chart ? p.chart.marks : []);
  }
  const c = p.chart, lrBox = root.querySelector(".pp-lr-box");
  root.querySelector(".pp-chart").hidden = !c;
  if (!c) { lrBox.hidden = true; return; }
  plot(root.querySelector(".pp-loss"), {
    xs: c.step, log: c.log_y, height: 300, title: "loss", fmt: c.log_y ? logLabel : plain,
    lines: [{ ys: c.loss, color: BLUE, alpha: 0.25, width: 1 },
            { ys: c.smoothed, color: BLUE, alpha: 1, width: 2, points: c.points }],
    crosses: c.blown.map((i) => [c.step[i], c.loss[i]]),
    rules: c.epochs.map((x) => ({ x, color: "#bbbbbb", dash: [2, 4] })),
    marks: c.marks,
  });
  lrBox.hidden = !c.lr;
  if (c.lr) plot(root.querySelector(".pp-lr"), {
    xs: c.step, log: c.lr_log, height: 170, title: "learning rate", fmt: (v) => v.toExponential(1),
    ticks: 3, lines: [{ ys: c.lr, color: ORANGE, alpha: 1, width: 1.5, steps: true }],
    crosses: [], rules: [], marks: c.marks,
  });
}

function showDiagnostics(root, dg, marks) {
  const box = root.querySelector(".pp-diag");
  box.hidden = !dg;
  if (!dg) return;
  root.querySelector(".pp-diag-heading").innerHTML = dg.heading;
  root.querySelector(".pp-diag-caption").textContent = dg.caption;
  const holder = root.querySelector(".pp-diag-charts");
  dg.kinds.forEach((k, i) => {
    let part = holder.children[i];
    if (!part) {
      part = document.createElement("div");
      part.innerHTML = '<div class="pp-legend"></div><div class="pp-chart"><canvas role="img"></canvas></div>';
      holder.appendChild(part);
    }
    const legend = part.querySelector(".pp-legend"), names = k.lines.map((l) => l.name + l.color).join();
    if (legend.ppNames !== names) {
      legend.ppNames = names;
      legend.replaceChildren(...(k.lines.length > 1 ? k.lines : []).map((l) => {
        const span = document.createElement("span");
        span.textContent = l.name; span.style.setProperty("--dot", l.color);
        return span;
      }));
    }
    const canvas = part.querySelector("canvas");
    canvas.setAttribute("aria-label", k.title + " against step");
    const xs = [], lines = [];
    for (const l of k.lines) {
      lines.push({ xs: l.step, ys: l.value, color: l.color, alpha: 0.25, width: 1 },
                 { xs: l.step, ys: l.smoothed, color: l.color, alpha: 1, width: 2 });
      if (l.step.length) xs.push(l.step[l.step.length - 1]);
    }
    plot(canvas, { xs: [Math.max(1, ...xs)], log: dg.log_y, height: 250, title: k.title,
                   fmt: dg.log_y ? logLabel : plain, lines, crosses: [], rules: [], marks,
                   band: k.band, guide: k.band ? k.guide : null });
  });
}

function plain(v) { return String(+v.toPrecision(3)); }
function logLabel(v) { return v >= 1e-3 && v < 1e4 ? plain(v) : v.toExponential(0).replace("+", ""); }

function niceStep(span, n) {
  const raw = span / n, mag = 10 ** Math.floor(Math.log10(raw)), f = raw / mag;
  return mag * (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10);
}

function yScale(o) {
  const vals = [];
  for (const line of o.lines) for (const v of line.ys) if (v != null && (!o.log || v > 0)) vals.push(v);
  if (o.band) vals.push(...o.band);
  if (!vals.length) return null;
  let lo = Math.min(...vals), hi = Math.max(...vals);
  if (o.log) {
    let a = Math.floor(Math.log10(lo)), b = Math.ceil(Math.log10(hi));
    if (b === a) b = a + 1;
    const every = Math.ceil((b - a + 1) / 7), ticks = [];
    for (let k = a; k <= b; k += every) ticks.push(10 ** k);
    return { t: (v) => (Math.log10(v) - a) / (b - a), ticks };
  }
  if (hi === lo) { hi += Math.abs(hi) || 1; lo -= Math.abs(lo) || 1; }
  const step = niceStep(hi - lo, o.ticks || 5);
  lo = Math.floor(lo / step) * step; hi = Math.ceil(hi / step) * step;
  const ticks = [];
  for (let v = lo; v <= hi + step / 2; v += step) ticks.push(v);
  return { t: (v) => (v - lo) / (hi - lo), ticks };
}

function plot(canvas, o) {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(240, canvas.parentElement.clientWidth), h = o.height;
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr);
    canvas.style.width = w + "px"; canvas.style.height = h + "px";
  }
  const g = canvas.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  const pw = w - PAD.left - PAD.right, ph = h - PAD.top - PAD.bottom;
  const xmax = Math.max(1, o.xs[o.xs.length - 1] || 1), ys = yScale(o);
  if (!ys) return;
  const X = (v) => PAD.left + (v / xmax) * pw;
  const Y = (v) => PAD.top + ph - Math.min(1, Math.max(0, ys.t(v))) * ph;
  g.font = FONT; g.fillStyle = INK; g.strokeStyle = GRID; g.lineWidth = 1;
  g.textAlign = "right"; g.textBaseline = "middle";
  for (const v of ys.ticks) {
    const y = Math.round(Y(v)) + 0.5;
    g.beginPath(); g.moveTo(PAD.left, y); g.lineTo(PAD.left + pw, y); g.stroke();
    g.fillText(o.fmt(v), PAD.left - 6, y);
  }
  g.textAlign = "center"; g.textBaseline = "top";
  const xstep = niceStep(xmax, Math.max(2, Math.floor(pw / 90)));
  for (let v = 0; v <= xmax; v += xstep) {
    const x = Math.round(X(v)) + 0.5;
    g.beginPath(); g.moveTo(x, PAD.top); g.lineTo(x, PAD.top + ph); g.stroke();
    g.fillText(v.toLocaleString("en-US"), x, PAD.top + ph + 5);
  }
  g.font = "bold " + FONT;
  g.fillText("step", PAD.left + pw / 2, PAD.top + ph + 20);
  g.save(); g.translate(12, PAD.top + ph / 2); g.rotate(-Math.PI / 2); g.fillText(o.title, 0, -6); g.restore();
  g.font = FONT;
  if (o.band) {
    g.save(); g.fillStyle = "rgba(44, 160, 44, 0.12)";
    g.fillRect(PAD.left, Y(o.band[1]), pw, Y(o.band[0]) - Y(o.band[1]));
    g.strokeStyle = "#2ca02c"; g.setLineDash([6, 4]); g.beginPath();
    g.moveTo(PAD.left, Y(o.guide)); g.lineTo(PAD.left + pw, Y(o.guide)); g.stroke(); g.restore();
  }
  for (const r of o.rules) rule(g, X(r.x), PAD.top, ph, r.color, r.dash);
  for (const line of o.lines) draw(g, line.xs || o.xs, line, X, Y);
  g.strokeStyle = RED; g.lineWidth = 2;
  for (const [x, y] of o.crosses) {
    const cx = X(x), cy = Y(y);
    g.beginPath(); g.moveTo(cx - 5, cy); g.lineTo(cx + 5, cy); g.moveTo(cx, cy - 5); g.lineTo(cx, cy + 5); g.stroke();
  }
  o.marks.forEach(([x, label, color, end], i) => {
    const cx = X(x);
    rule(g, cx, PAD.top, ph, color, [4, 3]);
    g.fillStyle = color; g.textAlign = end ? "right" : "left"; g.textBaseline = "middle";
    g.fillText(label, cx + (end ? -3 : 3), PAD.top + 10 + 13 * (i % 3));
  });
}

function rule(g, x, top, ph, color, dash) {
  g.save(); g.strokeStyle = color; g.lineWidth = 1; g.setLineDash(dash);
  g.beginPath(); g.moveTo(Math.round(x) + 0.5, top); g.lineTo(Math.round(x) + 0.5, top + ph); g.stroke();
  g.restore();
}

function draw(g, xs, line, X, Y) {
  g.save(); g.globalAlpha = line.alpha; g.strokeStyle = line.color; g.lineWidth = line.width;
  g.lineJoin = "round"; g.beginPath();
  let open = false, prevY = 0;
  for (let i = 0; i < xs.length; i++) {
    const v = line.ys[i];
    if (v == null) { open = false; continue; }
    const x = X(xs[i]), y = Y(v);
    if (!open) g.moveTo(x, y);
    else { if (line.steps) g.lineTo(x, prevY); g.lineTo(x, y); }
    open = true; prevY = y;
  }
  g.stroke();
  if (line.points) {
    g.fillStyle = line.color;
    for (let i = 0; i < xs.length; i++) if (line.ys[i] != null) {
      g.beginPath(); g.arc(X(xs[i]), Y(line.ys[i]), 2.5, 0, 2 * Math.PI); g.fill();
    }
  }
  g.restore();
}
