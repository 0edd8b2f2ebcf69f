"""train.py for the paths lesson: the textbook loop on one point, the surface's own code copied in,
so a learner can see the whole lesson is `loss = f(x, y); loss.backward(); optimizer.step()`."""

from __future__ import annotations

import inspect
import json

import torch

from playground import surfaces
from playground.config import RunConfig
from playground.export.loop_code import optimizer_code, scheduler_code
from playground.schedules import SCHEDULES

_TEMPLATE = '''"""Optimizer paths: a point (x, y) rolls down the {surface} surface with {optimizer_name}.

Written by Pixel Playground (torch {torch_version}); run: python train.py > path.csv
"""

import math
from types import SimpleNamespace

import torch
from torch.optim import lr_scheduler  # noqa: F401 (used when a schedule is set)

cfg = SimpleNamespace(**{settings})
total_steps = cfg.epochs


{surface_code}


class Point(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.xy = torch.nn.Parameter(torch.tensor([cfg.start_x, cfg.start_y], dtype=torch.float64))


model = Point()
optimizer = {optimizer}
{scheduler}
noise = torch.Generator().manual_seed(cfg.seed + 3)
print("step,x,y,loss,lr")
for step in range(1, total_steps + 1):
    optimizer.zero_grad(set_to_none=True)
    x, y = model.xy[0], model.xy[1]
    loss = {fn_name}(x, y, cfg)  # forward: the height of the surface where the point is
    lr = optimizer.param_groups[0]["lr"]
    print(f"{{step}},{{x.item()!r}},{{y.item()!r}},{{loss.item()!r}},{{lr!r}}")
    loss.backward()  # backward: the slope there
    if cfg.grad_noise > 0:  # the stochastic surface: a minibatch-sized error in the gradient
        model.xy.grad += torch.randn(2, generator=noise, dtype=torch.float64) * (
            cfg.grad_noise / math.sqrt(cfg.batch_size))
    if cfg.clip_grad_norm > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad_norm)
    optimizer.step()  # the update
{schedule_step}
'''


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
    return _TEMPLATE.format(
        surface=cfg.surface, optimizer_name=cfg.optimizer, torch_version=torch.__version__.split("+")[0],
        settings=json.dumps(cfg.to_dict()).replace("true", "True").replace("false", "False"),
        surface_code=code.replace("Tensor", "torch.Tensor").replace('"RunConfig"', "object")
        .replace("RunConfig", "object"),
        optimizer=optimizer_code(cfg), scheduler="" if constant else scheduler_code(cfg),
        fn_name=fn.__name__, schedule_step=step)
