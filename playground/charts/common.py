"""What every chart shares: cached specs with live data, the log-scale floor, LR labels."""

from __future__ import annotations

import json
import math

import altair as alt
import numpy as np
import pandas as pd

from playground.history import thin_indices

MIN_POSITIVE = 1e-12  # log scales cannot show 0: a perfect fit is drawn at this floor


def with_data(spec_json: str, frame: pd.DataFrame | bytes, name: str) -> dict:
    """A cached spec plus fresh data as a named dataset (a frame, or its Arrow bytes).

    A new name per update makes the browser replace the data: Streamlit's front end otherwise
    tries to treat new data as rows appended to the old, which thinned histories are not.
    """
    spec = json.loads(spec_json)
    spec["data"] = {"name": name}
    spec.setdefault("datasets", {})[name] = frame
    return spec


def spec_without_main_data(chart: alt.TopLevelMixin, canvas: bool = False) -> str:
    """Drop the chart's top-level dataset so the caller can pass live data for it. `canvas`: draw
    on a canvas instead of SVG (Streamlit reads `usermeta.embedOptions`): a chart redrawn several
    times a second costs the browser far less, which on a small machine is CPU the run keeps."""
    spec = chart.to_dict()
    main = spec.pop("data")["name"]
    spec.get("datasets", {}).pop(main, None)
    if canvas:
        spec["usermeta"] = {"embedOptions": {"renderer": "canvas"}}
    return json.dumps(spec)


HOVER_POINTS = 150  # tooltip targets per series: one every few pixels of a chart's width


def hover_rows(n: int, points: int = HOVER_POINTS) -> np.ndarray:
    """Which of n rows carry a chart's tooltip (every k-th, and the newest). In Streamlit's
    CSP-safe Vega every mark datum's encoding is interpreted on every redraw; tooltips (formatted
    numbers) and the nearest-point lookup on all 1,000 points of a live chart were about half of
    what a redraw cost Chromium (docs/benchmarks.md), and a pointer cannot tell 150 from 1,000."""
    keep = np.zeros(n, dtype=bool)
    keep[thin_indices(n, points)] = True
    return keep


ZOOM_HINT = "Drag to pan · Ctrl + scroll (or pinch) to zoom the steps · double-click to reset"
# Ctrl, not Shift: Chrome turns Shift + wheel into a sideways scroll (deltaY 0), which Vega's
# zoom ignores. Vega consumes the event, so Ctrl + scroll over a chart never zooms the page.
ZOOM_ON = "wheel![event.ctrlKey]"


def zoomable(chart: alt.TopLevelMixin) -> alt.TopLevelMixin:
    """Pan by dragging and zoom the step axis only with Ctrl + wheel (a trackpad pinch sends the
    same), so a plain wheel keeps scrolling the page; a double-click resets the view."""
    return chart.add_params(alt.selection_interval(bind="scales", encodings=["x"], zoom=ZOOM_ON))


def event_label(kind: str, value: float) -> str:
    """How a run's event reads on a chart."""
    return {"plateau": "LR cut", "early_stop": "early stop", "diverged": "diverged"}.get(
        kind, f"lr → {value:.3g}")


def format_lr(lr: float) -> str:
    """Learning rates read best in scientific form below 0.01."""
    if lr == 0 or not math.isfinite(lr):
        return str(lr)
    return f"{lr:.0e}" if lr < 0.01 else f"{lr:.4g}"
