"""main() of train.py: the parts of the training loop that depend on the run's settings.

Each function returns plain source for one placeholder of train.py.tmpl (which holds the loop's
fixed code); the snippets below are the alternatives they choose between.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn

from playground import models
from playground.config import FIELDS, RunConfig
from playground.export.codegen import fill, literal
from playground.losses import LOSSES
from playground.optim import make_optimizer
from playground.rules import CHECK_EVERY

_SCHEDULERS = {  # mirrors playground/schedules.py; the tests compare the LRs step by step
    "constant": "# (no scheduler: the learning rate stays constant)",
    "step": "scheduler = lr_scheduler.StepLR(optimizer, step_size=cfg.step_size, gamma=cfg.gamma)",
    "exponential": "scheduler = lr_scheduler.ExponentialLR(optimizer, gamma=cfg.gamma ** "
                   "(1 / cfg.step_size))",
    "cosine": "scheduler = lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, total_steps),\n"
              "                                           eta_min=min(cfg.min_lr, cfg.lr))",
    "onecycle": "scheduler = lr_scheduler.OneCycleLR(optimizer, max_lr=cfg.lr, "
                "total_steps=max(2, total_steps),\n"
                "                                    cycle_momentum=False)",
    "warmup_cosine": "cosine = lr_scheduler.CosineAnnealingLR(optimizer, "
                     "T_max=max(1, total_steps - cfg.warmup),\n"
                     "                                        eta_min=min(cfg.min_lr, cfg.lr))\n"
                     "warm = lr_scheduler.LinearLR(optimizer, start_factor=0.01, end_factor=1.0,\n"
                     "                             total_iters=cfg.warmup)\n"
                     "scheduler = lr_scheduler.SequentialLR(optimizer, [warm, cosine], "
                     "milestones=[cfg.warmup])",
    "cyclic": "low = cfg.min_lr if 0 < cfg.min_lr < cfg.lr else cfg.lr / 10\n"
              "scheduler = lr_scheduler.CyclicLR(optimizer, base_lr=low, max_lr=cfg.lr,\n"
              "                                  step_size_up=cfg.step_size, cycle_momentum=False)",
    "plateau": "scheduler = lr_scheduler.ReduceLROnPlateau(optimizer, factor=cfg.gamma, "
               "patience=cfg.step_size)",
}


def main_parts(cfg: RunConfig) -> dict[str, str]:
    """Every placeholder of main() in train.py.tmpl, filled for this run."""
    lbfgs = cfg.optimizer == "lbfgs"
    if cfg.model == "coord":
        data = ("# One sample per pixel: its (x, y) in, its RGBA out.\n"
                "inputs, targets = model.grid, image.reshape(4, -1).T.contiguous()")
    else:
        data = "inputs, targets = model.z, image.unsqueeze(0)  # one sample: latent -> sprite"
    state = ([] if lbfgs else [_BEST_INIT]) + ([_EARLY_INIT] if cfg.patience > 0 else [])
    return {
        "model_cls": models.MODELS[cfg.model].make.__name__, "data": data,
        "criterion": criterion_code(cfg), "optimizer": optimizer_code(cfg),
        "scheduler": scheduler_code(cfg), "state": "\n".join(state),
        "update": _update_code(cfg), "end_of_epoch": _end_of_epoch_code(cfg),
        "restore": "" if lbfgs else _RESTORE,
        "to_pixels": "torch.sigmoid(model.image())  # BCE: the model emits logits, not pixels"
        if cfg.loss == "bce" else "model.image().clamp(0.0, 1.0)",
    }


def criterion_code(cfg: RunConfig) -> str:
    """`nn.MSELoss()` etc., with any argument that differs from torch's default, summed over each
    example by PerExample when the run's reduction is `sum`."""
    code = criterion_call(LOSSES[cfg.loss].make())
    if cfg.reduction != "sum":
        return code
    dims = models.MODELS[cfg.model].example_dims
    return f"PerExample({code}, dims={dims!r})  # sum per example, mean over the batch"


def criterion_call(criterion: nn.Module) -> str:
    """`nn.HuberLoss(delta=...)`: torch's loss with each argument that differs from its default
    (a loss of the app's own, copied into the script, by its bare name)."""
    if not type(criterion).__module__.startswith("torch.nn"):
        return f"{type(criterion).__name__}()"
    default = type(criterion)()
    args = [f"{k}={v!r}" for k, v in vars(criterion).items()
            if not k.startswith("_") and k != "training" and vars(default).get(k) != v]
    return f"nn.{type(criterion).__name__}({', '.join(args)})"


def _optimizer_args(cfg: RunConfig) -> tuple[type[torch.optim.Optimizer], dict[str, Any]]:
    """The fewest keyword arguments that rebuild optim.py's optimizer exactly (same defaults);
    settings named in RunConfig are always shown, since they are what the learner tuned."""
    def probe() -> list[nn.Parameter]:
        return [nn.Parameter(torch.zeros(1))]

    opt = make_optimizer(probe(), cfg)
    cls = type(opt)
    accepted = inspect.signature(cls.__init__).parameters
    args = {k: v for k, v in opt.defaults.items() if k in accepted}
    for key in list(args):
        if key == "lr" or key in FIELDS:
            continue
        trial = {k: v for k, v in args.items() if k != key}
        if cls(probe(), **trial).defaults == opt.defaults:
            args = trial
    if cls(probe(), **args).defaults != opt.defaults:  # never hand out a script that differs
        raise RuntimeError(f"cannot express the {cfg.optimizer} optimizer as keyword arguments")
    return cls, args


def optimizer_code(cfg: RunConfig) -> str:
    """`torch.optim.Adam(model.parameters(), lr=cfg.lr, ..., fused=True)`, wrapped at 100."""
    cls, args = _optimizer_args(cfg)
    parts = ["model.parameters()"]
    for key, value in args.items():
        named = key in FIELDS and getattr(cfg, key) == value
        parts.append(f"{key}=cfg.{key}" if named else f"{key}={literal(value)}")
    head = f"torch.optim.{cls.__name__}("
    pad = " " * (len("    optimizer = ") + len(head))
    lines, line = [], ""
    for part in parts:
        candidate = f"{line}, {part}" if line else part
        if line and len(pad) + len(candidate) + 2 > 100:
            lines.append(line + ",")
            line = part
        else:
            line = candidate
    lines.append(line + ")")
    return head + ("\n" + pad).join(lines)


def scheduler_code(cfg: RunConfig) -> str:
    """The scheduler exactly as schedules.py builds it (a plain cosine for warmup_cosine, warmup=0)."""
    if cfg.schedule == "warmup_cosine" and cfg.warmup == 0:
        return _SCHEDULERS["cosine"].replace("total_steps)", "total_steps - cfg.warmup)", 1)
    return _SCHEDULERS[cfg.schedule]


def _update_code(cfg: RunConfig) -> str:
    """One optimizer step: the textbook update, or LBFGS's closure, with the divergence check."""
    schedule = ("scheduler.step()  # the schedule moves once per optimizer step"
                if cfg.schedule not in ("constant", "plateau") else "")
    if cfg.optimizer == "lbfgs":
        clip = ("# (clip_grad_norm is not applied: LBFGS's line search sets its own step size)"
                if cfg.clip_grad_norm > 0 else "")
        return fill(_LBFGS_UPDATE, {"clip": clip, "check": _CHECK, "schedule": schedule})
    clip = ("nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad_norm)  # rescale big "
            "gradients" if cfg.clip_grad_norm > 0 else "")
    return fill(_UPDATE, {"clip": clip, "check": _CHECK, "schedule": schedule,
                          "every": str(CHECK_EVERY)})


def _end_of_epoch_code(cfg: RunConfig) -> str:
    """Per-epoch work: the plateau schedule and early stopping see the epoch's mean loss."""
    if cfg.schedule != "plateau" and cfg.patience <= 0:
        return ""
    parts = ["# End of an epoch: the plateau schedule and early stopping see its mean loss.",
             "epoch_loss = sum(epoch_losses) / len(epoch_losses)"]
    if cfg.schedule == "plateau":
        parts.append("scheduler.step(epoch_loss)  # lowers the lr when the epoch loss stalls")
    if cfg.patience > 0:
        parts.append(_EARLY_STOP)
    return "\n".join(parts)


_CHECK = """if math.isfinite(loss_value) and explode_at == math.inf:
    explode_at = 1000 * max(loss_value, 1.0)
if not math.isfinite(loss_value) or loss_value > explode_at:
    step += 1
    history.append((step, epoch, loss_value, lr))  # the blow-up is recorded, the update is not
    status = (f"diverged at step {step}: loss {loss_value:.3g} with lr={lr:.3g}; "
              "try a 10x lower lr")
    break"""

_UPDATE = """optimizer.zero_grad(set_to_none=True)
loss = criterion(model(x), y)  # forward: how wrong is the picture?
loss.backward()  # backward: the gradient of the loss for every weight
loss_value = loss.item()
$clip
$check
checkpoint = step == 0 or (step + 1) % $every == 0  # the first and every ${every}th step
if checkpoint and loss_value < best_loss:  # (a copy of every weight each step would be slow)
    best_loss = loss_value  # remember the best weights (restored after divergence)
    best_weights = [p.detach().clone() for p in model.parameters()]
optimizer.step()  # update the weights
$schedule
"""

_LBFGS_UPDATE = """
# LBFGS evaluates the loss several times per step (a line search), so it takes a closure.
def closure(x: Tensor = x, y: Tensor = y) -> Tensor:
    optimizer.zero_grad(set_to_none=True)
    loss = criterion(model(x), y)
    loss.backward()
    return loss

$clip
loss_value = optimizer.step(closure).item()  # the loss before this step's update
$check
$schedule
"""

_BEST_INIT = "best_loss, best_weights = math.inf, None  # the best weights, kept for a bad ending"

_EARLY_INIT = "best_epoch_loss, bad_epochs = math.inf, 0  # early stopping"

_EARLY_STOP = """if best_epoch_loss - epoch_loss > cfg.min_delta:
    best_epoch_loss, bad_epochs = epoch_loss, 0
else:
    bad_epochs += 1
    if bad_epochs >= cfg.patience:
        status = (f"early stopped after epoch {epoch}: "
                  f"no improvement for {cfg.patience} epochs")
        break"""

_RESTORE = """if status.startswith(("diverged", "early stopped")) and best_weights is not None:
    with torch.no_grad():  # go back to the best checkpoint (the lowest loss kept)
        for p, best in zip(model.parameters(), best_weights, strict=True):
            p.copy_(best)"""
