"""The paths lesson's map, made: the surface evaluated on charts/paths.py's grid (with torch,
which the charts never import) and drawn by it, cached per surface, setting and size."""

from __future__ import annotations

import functools

import pandas as pd
import torch

from playground import surfaces
from playground.charts import paths as path_charts
from playground.config import RunConfig


@functools.lru_cache(maxsize=32)
def surface_frame(surface: str, condition: float, rotation: float,
                  size: int = path_charts.GRID) -> pd.DataFrame:
    """The contour cells of one surface at one setting: computed once per surface and size."""
    cfg = RunConfig(task="paths", surface=surface, condition=condition, rotation=rotation)
    spec = surfaces.SURFACES[surface]
    gx, gy = path_charts.cell_centres(spec.extent, size)
    values = surfaces.value(cfg, torch.from_numpy(gx), torch.from_numpy(gy)).numpy()
    return path_charts.surface_frame(spec.extent, values, spec.floor)


@functools.lru_cache(maxsize=32)
def map_spec(surface: str, condition: float, rotation: float, runs: tuple[str, ...] = ("run",),
             size: int = 440, clickable: bool = False, arrows: bool = True) -> str:
    """The map's spec (see charts.paths.map_spec), built once per surface, setting and size."""
    spec = surfaces.SURFACES[surface]
    return path_charts.map_spec(surface_frame(surface, condition, rotation), spec.extent,
                                spec.minima, runs, size, clickable, arrows)


def path_chart(cfg: RunConfig, paths: pd.DataFrame, arrows: pd.DataFrame | None = None,
               size: int = 440) -> dict:
    """The whole map as one self-contained spec (the CLI's PNG)."""
    runs = tuple(dict.fromkeys(paths["run"])) or ("run",)
    spec = map_spec(cfg.surface, cfg.condition, cfg.rotation, runs, size, arrows=arrows is not None)
    return path_charts.fill(spec, paths, arrows, records=True)
