"""path.csv and path.png: a paths run's (step, x, y, loss, lr) and its path drawn on the surface,
rendered without a browser by vl-convert (the same chart the page shows)."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from playground.charts import paths as path_charts
from playground.config import RunConfig
from playground.lessons.path_map import path_chart

PATH_CSV_COLUMNS = ["step", "x", "y", "loss", "lr"]


def path_csv(history: pd.DataFrame) -> str:
    """The path as CSV: where the point was at each step, its loss there and the LR of the step."""
    return history[PATH_CSV_COLUMNS].dropna(subset=["x", "y"]).to_csv(index=False)


def path_png(cfg: RunConfig, histories: Mapping[str, pd.DataFrame], size: int = 560) -> bytes:
    """The paths (one per run) on the surface's contours, as PNG bytes."""
    import vl_convert

    spec = path_chart(cfg, path_charts.path_frame(dict(histories)), size=size)
    spec["title"] = f"{cfg.surface}: " + ", ".join(histories)
    return vl_convert.vegalite_to_png(spec, scale=2)
