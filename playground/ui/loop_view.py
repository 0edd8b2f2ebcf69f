"""Stepping by line on the page: the "Line ▸" button beside Step, and the panel that shows the loop
as plain PyTorch with the line just run highlighted, where in the data it stands, the batch, and
the tensors the line touched as pictures (playground/loop_lines.py makes them in the worker)."""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import streamlit as st

from playground.charts import loop as charts
from playground.config import RunConfig
from playground.export.loop_panel import panel_lines
from playground.loop_lines import LBFGS_REFUSED, LINES, LineView
from playground.loop_pictures import CHANNELS, Picture
from playground.serve import FINISHED, Runner, RunRefused, Snapshot
from playground.ui.images import data_uri, figure, row

MAP_PX = 120  # the longer side of a tensor's map on the page, in CSS pixels
SIGNED = ("grad", "update", "exp_avg", "momentum_buffer", "output")  # kinds drawn blue-white-red
HELP = ("Run one line of the loop (zero_grad, forward, loss, backward, step) and see the tensors it "
        "touched; the fifth press takes the optimizer step. The numbers are exactly those of Step.")


def line_button(column: Any, runner: Runner, cfg: RunConfig, target: np.ndarray | None) -> None:
    """The by-line button, for the row of run controls."""
    lbfgs = cfg.optimizer == "lbfgs"
    column.button("Line ▸", key="line_step", width="stretch", on_click=_step_line,
                  args=(runner, cfg, target), help=LBFGS_REFUSED if lbfgs else HELP,
                  disabled=lbfgs or runner.snapshot(max_points=2).state in FINISHED)


def _step_line(runner: Runner, cfg: RunConfig, target: np.ndarray | None) -> None:
    try:
        runner.step_once(cfg, target, by_line=True)
    except RunRefused as exc:  # too big for this server: the controls show the sentence
        st.session_state.refused = str(exc)


def loop_panel(snap: Snapshot) -> None:
    """The loop, line by line: drawn once a line has been run (nothing otherwise)."""
    line, cfg = snap.line, snap.config
    if line is None or cfg is None:
        return
    with st.container(border=True, key="loop_panel"):
        st.markdown(f"**The loop, line by line** · epoch {line.epoch:,} · batch {line.batch:,} of "
                    f"{line.batches:,} · step {line.step:,}")
        st.html(code_html(cfg, line))
        members(snap, line)
        st.info(f"**{line.name}** · {line.note}", icon="🔎")
        touched(snap, line)


def code_html(cfg: RunConfig, line: LineView) -> str:
    """The loop's code with the line just run highlighted and the next one marked."""
    out = []
    for text, index in panel_lines(cfg):
        text = text.split("  #")[0]  # the comments are train.py's; the note below says it here
        ran, upcoming = index == line.line, index == line.next_line
        mark = "✔" if ran else "▶" if upcoming else " "
        style = ("background:#fff1a8;font-weight:600;" if ran else
                 "background:#eef7ee;" if upcoming else "")
        label = ("  ← just ran" if ran and text.lstrip().startswith(_first(line.line))
                 else "  ← next" if upcoming and text.lstrip().startswith(_first(line.next_line))
                 else "")
        cls = "ran" if ran else "next" if upcoming else "code"
        wrap = "white-space:pre-wrap;padding-left:3ch;text-indent:-3ch"  # wrapped lines hang
        out.append(f'<div class="{cls}" style="{style}{wrap}">{mark} {html.escape(text)}'
                   f'<span style="color:#b35900">{label}</span></div>')
    return ('<div class="loop-code" style="font-family:monospace;font-size:0.78rem;line-height:1.45;'
            'overflow-x:auto;border:1px solid #ddd;border-radius:6px;padding:6px">'
            + "".join(out) + "</div>")


def _first(index: int) -> str:
    """The start of the statement that a line index names (step may span clip and schedule)."""
    return {0: "optimizer.zero_grad", 1: "output =", 2: "loss =", 3: "loss.backward",
            4: "optimizer.step"}[index]


def members(snap: Snapshot, line: LineView) -> None:
    """Who is in this batch."""
    m = line.members
    kind = m.get("kind")
    if kind == "whole":
        st.caption("The batch is the whole sprite: one example, every step sees all of it.")
    elif kind == "pixels" and snap.target is not None:
        shown = snap.target.copy()
        shown[~m["mask"]] = (235, 235, 235, 255)
        st.html(row([figure(shown, 120, f"{m['count']} of {m['of']} pixels in this batch",
                            border=True)]))
    elif kind == "sprites":
        predicted = line.values.get("predicted", [])
        losses = line.values.get("loss", [])
        figs = []
        for i, (img, label) in enumerate(zip(m["images"], m["labels"], strict=True)):
            caption = m["classes"][label]
            if i < len(predicted):
                caption += f" → {m['classes'][min(predicted[i], len(m['classes']) - 1)]}"
            if i < len(losses):
                caption += f" ({losses[i]:.2f})"
            figs.append(figure(img, 40, caption))
        st.caption(f"{m['count']} of {m['of']} training sprites in this batch (label → guess)")
        st.html(row(figs, gap=4))
    elif kind == "houses":
        _houses(snap, line)


def _houses(snap: Snapshot, line: LineView) -> None:
    m, points = line.members, (snap.view or {}).get("points")
    st.caption(f"{m['count']} of {m['of']} houses in this batch")
    if points is None:
        return
    rows = []
    for k, i in enumerate(m["index"]):
        entry = {"house": i + 1, "size m²": float(points[i][0]), "price": float(points[i][1])}
        for key, title in (("predicted", "predicted (model units)"), ("target", "target (model units)"),
                           ("loss", "loss")):
            if key in line.values and k < len(line.values[key]):
                entry[title] = line.values[key][k]
        rows.append(entry)
    st.dataframe(rows, hide_index=True, width="stretch")


def touched(snap: Snapshot, line: LineView) -> None:
    """The tensors the line touched, as pictures."""
    name = LINES[line.line]
    if name == "forward" and line.sprite is not None:
        caption = ("the batch's pixels as the model colours them (alpha shown opaque)"
                   if line.members.get("kind") == "pixels" else "the model's output, as pixels")
        st.html(row([figure(line.sprite, 120, caption)]
                    + _maps(line.pictures)))
    elif name == "loss":
        st.metric("loss", f"{line.loss:.5g}")
        st.html(row(_maps(line.pictures)))
    elif name == "step":
        _step(line)
    else:
        st.html(row(_maps(line.pictures)))
    norms = {p.name: p.norm for p in line.pictures if p.kind == "grad" and not p.none}
    if name == "backward" and len(norms) > 1:
        st.vega_lite_chart(charts.layer_bars(norms, "gradient norm per layer").to_dict(),
                           width="stretch")
    hidden = [p.name for p in line.pictures if p.values is None and not p.none]
    if hidden:
        st.caption(f"Too large to draw as a map (see the bars): {', '.join(sorted(set(hidden)))}.")


def _step(line: LineView) -> None:
    updates = [p for p in line.pictures if p.kind == "update"]
    state = [p for p in line.pictures if p.kind not in ("update",)]
    st.html(row(_maps(updates, "new − old")))
    if state:
        st.caption("The optimizer's state, one number per weight (the same shapes):")
        st.html(row(_maps(state)))
    if line.ratios:
        st.vega_lite_chart(charts.layer_bars(line.ratios, "update / weight (‖new − old‖ / ‖old‖)",
                                             log=True, guide=charts.RATIO_GUIDE).to_dict(),
                           width="stretch")
        st.caption("The dashed line is 1e-3: an update about a thousandth of its weight is the "
                   "usual healthy size; far above it the learning rate is too large.")


def _maps(pictures: list[Picture], what: str = "") -> list[str]:
    """Each picture as a heat map with its scale (a sprite-shaped one as one map per channel)."""
    figs = []
    for p in pictures:
        if p.values is None:
            continue
        signed = p.kind in SIGNED
        scale = charts.scale_of(p.values)
        title = f"{p.name}{'.grad' if p.kind == 'grad' else ''}" + (
            f" · {p.kind}" if p.kind not in ("grad", "output", "loss") else "") + (
            f" · {what}" if what else "")
        if p.none:
            title += " = None"
        planes = ([(f" {c}", p.values[i]) for i, c in enumerate(CHANNELS)] if p.sprite
                  else [("", p.values)])
        for suffix, values in planes:
            figs.append(_heat(values, scale, signed, title + suffix, p))
    return figs


def _heat(values: np.ndarray, scale: float, signed: bool, title: str, p: Picture) -> str:
    """One map, crisp, with a legend strip under it: its colours and the numbers at the ends."""
    rows_, cols = values.shape
    zoom = max(1, MAP_PX // max(rows_, cols))
    w, h = cols * zoom, rows_ * zoom
    img = (f'<img src="{data_uri(charts.colours(values, scale, signed))}" title="{html.escape(title)}"'
           f' style="width:{w}px;height:{h}px;image-rendering:pixelated;outline:1px solid #bbb">')
    low = f"−{charts.format_scale(scale)}" if signed and scale > 0 else "0"
    bar = (f'<img src="{data_uri(charts.legend(signed))}" style="width:{max(w, 64)}px;height:6px;'
           f'image-rendering:pixelated">')
    pooled = f" · mean of {p.pooled[0]}×{p.pooled[1]}" if max(p.pooled) > 1 else ""
    shape = "×".join(str(n) for n in p.shape)
    caption = f"{html.escape(title)}<br>[{shape}]{pooled}"
    if not p.none:  # a None gradient has no numbers, so no scale
        caption += (f"<br>{bar}<br>"
                    f'<span style="display:flex;justify-content:space-between"><span>{low}</span>'
                    f"<span>{charts.format_scale(scale)}</span></span>")
    return (f'<figure style="margin:0;text-align:center;font-size:0.7rem;color:#555;'
            f'max-width:{max(w, 96)}px">{img}<figcaption>{caption}</figcaption></figure>')
