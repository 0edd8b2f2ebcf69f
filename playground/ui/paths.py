"""The paths lesson on the page: the map to click a start on, the theory of the bowl, ready-made
races, and the live view (the path growing on the map, the gradient and the optimizer's step)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd
import streamlit as st

from playground import surfaces
from playground.charts import paths as path_charts
from playground.charts import run as charts
from playground.charts.common import with_data
from playground.config import RunConfig, field_spec
from playground.history import Table
from playground.lessons import path_map
from playground.lessons.path_presets import RACES
from playground.lessons.path_theory import bowl_theory, optimum_settings
from playground.serve import Snapshot
from playground.tasks import TASKS
from playground.ui import diagnostics
from playground.ui.chart_data import with_marks
from playground.ui.setup import set_widgets

MAP_KEY = "paths_start_map"


def start_from_selection(selection: dict) -> tuple[float, float] | None:
    """The clicked cell's centre from a map selection event, clamped to the allowed range."""
    picked = (selection or {}).get(path_charts.START) or []
    if not picked:
        return None
    lo, hi = field_spec("start_x")["min"], field_spec("start_x")["max"]
    x, y = float(picked[-1]["cx"]), float(picked[-1]["cy"])
    return min(max(x, lo), hi), min(max(y, lo), hi)


def start_clicked() -> None:
    """The map's click handler: the clicked point becomes the start (locks respected)."""
    event = st.session_state.get(MAP_KEY) or {}
    start = start_from_selection(event.get("selection", {}))
    if start is not None:
        set_widgets({"start_x": round(start[0], 3), "start_y": round(start[1], 3)})



def set_up_race(name: str) -> None:
    """A ready-made race: its surface into the sidebar, its contenders into the Compare tab."""
    set_widgets(dict(RACES[name][0]))
    st.session_state.race_preset = name


def paths_data(cfg: RunConfig) -> None:
    """The surface with the start point: click to move it; the theory; ready-made races."""
    st.caption(surfaces.SURFACES[cfg.surface].doc)
    start = pd.DataFrame({"run": ["start"], "step": [0], "x": [cfg.start_x], "y": [cfg.start_y],
                          "loss": [float(surfaces.value(cfg, *_tensors(cfg)))]})
    spec = path_map.map_spec(cfg.surface, cfg.condition, cfg.rotation, ("start",), 280, True, False)
    st.vega_lite_chart(spec=path_charts.fill(spec, start, tag="-start"), key=MAP_KEY, width="content",
                       on_select=start_clicked, selection_mode=path_charts.START)
    st.caption(f"Start ({cfg.start_x:.3g}, {cfg.start_y:.3g}): click the map to move it.")
    if cfg.surface == "bowl":
        theory(cfg)
    name = st.selectbox("Ready-made race", list(RACES), key="paths_race_choice")
    st.button("Set up this race", key="paths_race_setup", on_click=set_up_race, args=(name,),
              help="Puts its surface and start in the sidebar and its contenders in the Compare "
                   "tab's race: press 🏁 Start race there.")


def _tensors(cfg: RunConfig) -> tuple:
    import torch

    return torch.tensor(cfg.start_x, dtype=torch.float64), torch.tensor(cfg.start_y,
                                                                        dtype=torch.float64)


def theory(cfg: RunConfig) -> None:
    """What theory says about this bowl, next to the settings in the sidebar."""
    t = bowl_theory(cfg)
    kappa = t.big / t.small
    verdict = ""
    if cfg.optimizer == "sgd" and cfg.momentum == 0:
        verdict = (" Your lr is **below** it: stable." if cfg.lr < t.sgd_edge
                   else " Your lr is **above** it: the path will diverge.")
    st.markdown(
        f"**Theory** (κ = {kappa:.4g}, λ_max = {t.big:g}, λ_min = {t.small:.3g})  \n"
        f"Plain SGD is stable for lr < 2/λ_max = **{t.sgd_edge:g}**.{verdict}  \n"
        f"Its fastest lr is 2/(λ_max+λ_min) = {t.sgd_best_lr:.3g}: the error shrinks ×"
        f"{t.sgd_rate:.3f} a step.  \n"
        f"Momentum at critical damping: β = ((√κ−1)/(√κ+1))² = **{t.momentum:.3f}** with "
        f"lr = (2/(√λ_max+√λ_min))² = **{t.momentum_lr:.3f}**: ×{t.momentum_rate:.3f} a step "
        f"({_steps(t.sgd_rate)} vs {_steps(t.momentum_rate)} steps per 10× less error).")
    st.button("Use the optimum", key="paths_optimum", on_click=set_widgets,
              args=(optimum_settings(cfg),), help="SGD with the critically damped momentum "
              "and learning rate for this condition number.")


def _steps(rate: float) -> str:
    """Steps to cut the error tenfold at this rate per step."""
    if rate <= 0:
        return "1"
    return f"{math.ceil(math.log(0.1) / math.log(rate)):,}" if rate < 1 else "∞"


def paths_view(snap: Snapshot, df: pd.DataFrame, log_y: bool = True, smoothing: float = 0.0) -> None:
    """The path growing on the map, where the point is, its gradient and the optimizer's step;
    under it the diagnostics panel."""
    cfg, view = snap.config, snap.view or {}
    history = _history(snap.rows, view)
    arrows = None
    if "x" in view:
        gx, gy = view["gradient"]
        arrows = path_charts.arrow_frame(view["x"], view["y"], {
            path_charts.ARROWS[0]: (-gx, -gy), path_charts.ARROWS[1]: view.get("update")},
            surfaces.SURFACES[cfg.surface].extent)
    spec = path_map.map_spec(cfg.surface, cfg.condition, cfg.rotation, (cfg.optimizer,), 440)
    frame = path_charts.path_frame({cfg.optimizer: history})
    left, right = st.columns([1, 1])
    with left:
        st.vega_lite_chart(spec=path_charts.fill(spec, frame, arrows,
                                                 f"-{snap.run_id}-{snap.n_rows}"), width="content")
    with right:
        if "x" in view:
            a, b = st.columns(2)
            a.metric("x", f"{view['x']:.4g}")
            b.metric("y", f"{view['y']:.4g}")
            st.caption(f"|gradient| {math.hypot(*view['gradient']):.3g}" + (
                f" · optimizer's next step {math.hypot(*view['update']):.3g} long"
                if view.get("update") else "") + " · arrows show directions")
        if not df.empty:
            loss = with_data(charts.loss_spec(log_y), charts.loss_frame(df, smoothing, log_y),
                             f"pl-{snap.run_id}-{snap.n_rows}-{smoothing}-{log_y}")
            st.vega_lite_chart(spec=with_marks(loss, diagnostics.marks(snap)), width="stretch")
    diagnostics.panel(snap, log_y, smoothing)


def _history(rows: Table, view: dict) -> pd.DataFrame:
    """The path so far (step, x, y, loss) plus the point it stands on now."""
    df = pd.DataFrame({c: rows[c] for c in ("step", "x", "y", "loss")}) if len(rows) else \
        pd.DataFrame({"step": [], "x": [], "y": [], "loss": []})
    if "x" in view:
        step = (df["step"].max() + 1) if len(df) else 1
        df = pd.concat([df, pd.DataFrame({"step": [step], "x": [view["x"]], "y": [view["y"]],
                                          "loss": [math.nan]})], ignore_index=True)
    return df


def race_map(cfg: RunConfig | None, names: Sequence[str], curves: Sequence[Table],
             tag: str) -> None:
    """A race on the paths lesson: one path per contender from the same start, with a legend."""
    if cfg is None or not TASKS[cfg.task].surface_map:
        return
    paths = {name: pd.DataFrame({c: t[c] for c in ("step", "x", "y", "loss")})
             for name, t in zip(names, curves, strict=False)}
    spec = path_map.map_spec(cfg.surface, cfg.condition, cfg.rotation, tuple(names), 480,
                                arrows=False)
    st.vega_lite_chart(spec=path_charts.fill(spec, path_charts.path_frame(paths), tag=tag),
                       width="content", key=None)
