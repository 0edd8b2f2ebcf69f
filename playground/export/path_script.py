"""train.py for the paths lesson: the textbook loop on one point, the surface's own code copied in,
so a learner can see the whole lesson is `loss = f(x, y); loss.backward(); optimizer.step()`."""

from __future__ import annotations

import inspect
import json

import torch

from playground import surfaces
from playground.config import RunConfig
from playground.export.codegen import fill, read_template
from playground.export.loop_code import optimizer_code, scheduler_code
from playground.schedules import SCHEDULES

TEMPLATE = "path_train.py.tmpl"  # beside this module, like train.py.tmpl; it ships with the package


def path_script(cfg: RunConfig) -> str:
    """The standalone script of one paths run (its stdout is the path as CSV)."""
    fn = surfaces.SURFACES[cfg.surface].fn
    code = inspect.getsource(fn)
    if cfg.surface == "bowl":
        code = inspect.getsource(surfaces.bowl_curvatures) + "\n\n" + code
    constant = cfg.schedule == "constant"
    per_epoch = SCHEDULES[cfg.schedule].per_epoch
    step = "" if constant else ("    scheduler.step(loss.item())" if per_epoch
                                else "    scheduler.step()")
    return fill(read_template(TEMPLATE), dict(
        surface=cfg.surface, optimizer_name=cfg.optimizer, torch_version=torch.__version__.split("+")[0],
        settings=json.dumps(cfg.to_dict()).replace("true", "True").replace("false", "False"),
        surface_code=code.replace("Tensor", "torch.Tensor").replace('"RunConfig"', "object")
        .replace("RunConfig", "object"),
        optimizer=optimizer_code(cfg), scheduler="" if constant else scheduler_code(cfg),
        fn_name=fn.__name__, schedule_step=step))
