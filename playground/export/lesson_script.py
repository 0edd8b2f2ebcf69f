"""train.py for the classify and line lessons: classify_train.py.tmpl and line_train.py.tmpl filled
in with the run's settings, the lesson's own dataset and model code (copied with inspect), and the
few lines that depend on the optimizer and schedule.
"""

from __future__ import annotations

import torch

from playground.config import RunConfig
from playground.export.copied_code import (
    dependencies,
    helpers_code,
    loader_class_code,
    module_code,
    seed_weights_code,
)
from playground.export.loop_code import criterion_call, optimizer_code, scheduler_code
from playground.lessons import classify, linefit
from playground.losses import LOSSES
from playground.rules import CHECK_EVERY
from playground.schedules import SCHEDULES

TEMPLATES = {"classify": "classify_train.py.tmpl", "line": "line_train.py.tmpl"}

# One optimizer step's forward and backward: the textbook update, or LBFGS's closure (which
# evaluates the loss several times per step and takes the step itself).
_UPDATE = """self.optimizer.zero_grad(set_to_none=True)
loss = self.criterion(self.model(x), y)  # forward: how wrong is the model?
loss.backward()  # backward: the gradient of the loss for every weight
loss_value = loss.item()
grad_norm = gradient_norm(self.model, cfg.clip_grad_norm)"""

_LBFGS_UPDATE = """def closure() -> Tensor:  # LBFGS evaluates the loss several times per step
    self.optimizer.zero_grad(set_to_none=True)
    loss = self.criterion(self.model(x), y)
    loss.backward()
    return loss

loss_value = self.optimizer.step(closure).item()  # the loss before this step's update
grad_norm = gradient_norm(self.model, cfg.clip_grad_norm)"""

_KEEP_BEST = """checkpoint = self.step == 1 or self.step % EVERY == 0  # the first and every EVERYth step
if checkpoint and loss_value < self.best_loss:  # remember the best weights (for a bad ending)
    self.best_loss = loss_value
    self.best_state = {k: v.clone() for k, v in self.model.state_dict().items()}""".replace(
    "EVERY", str(CHECK_EVERY))  # rules.checkpoint_step, as the app keeps it

_STEP = "self.optimizer.step()  # update the weights"


def lesson_parts(cfg: RunConfig) -> dict[str, str]:
    """Every placeholder of the lesson's template but the settings (see script.train_script)."""
    parts = _classify_parts(cfg) if cfg.task == "classify" else _line_parts(cfg)
    return {**parts, **_loop_parts(cfg), "helpers": helpers_code()}


def _loop_parts(cfg: RunConfig) -> dict[str, str]:
    """The optimizer, the schedule and the update: the same for both lessons."""
    lbfgs = cfg.optimizer == "lbfgs"
    per_epoch = SCHEDULES[cfg.schedule].per_epoch
    constant = cfg.schedule == "constant"
    return {
        "optimizer": optimizer_code(cfg),
        "scheduler": "scheduler = None  # the learning rate stays constant" if constant
        else scheduler_code(cfg),
        "import_scheduler": "" if constant else "from torch.optim import lr_scheduler",
        "update": _LBFGS_UPDATE if lbfgs else _UPDATE,
        "step_schedule": "" if constant or per_epoch
        else "self.scheduler.step()  # the schedule moves once per optimizer step",
        "optimizer_name": cfg.optimizer, "lr": f"{cfg.lr:g}", "loss_name": cfg.loss,
        "schedule_name": cfg.schedule, "epochs": f"{cfg.epochs}",
        "torch_version": torch.__version__.split("+")[0],
    }


def _classify_parts(cfg: RunConfig) -> dict[str, str]:
    """The shapes dataset, the classifier and its loss; validation drives the per-epoch schedule."""
    spec = classify.CLASSIFIERS[cfg.model]
    data_roots = ["make_dataset", "split_sizes", "split", "loader"]
    roots = [spec.make.__name__, "predict"] + (["BCELogits"] if cfg.loss == "bce" else [])
    model = module_code(classify, roots, skip=dependencies(classify, tuple(data_roots)))
    return {
        "description": spec.doc, "classes": f"{cfg.classes}", "size": f"{cfg.size}",
        "dataset": module_code(classify, data_roots), "model": model + "\n\n\n" + seed_weights_code(),
        "model_cls": spec.make.__name__, "criterion": criterion_call(classify.CLASS_LOSSES[cfg.loss].make()),
        "optimizer_step": "" if cfg.optimizer == "lbfgs" else _STEP,
        "epoch_schedule": _epoch_schedule(cfg, "the validation loss"),
    }


def _line_parts(cfg: RunConfig) -> dict[str, str]:
    """House prices, the scaler, the loader and nn.Linear(1, 1); the epoch's loss drives the rest."""
    spec = linefit.LINE_MODELS[cfg.model]
    houses = len(linefit.house_points(cfg))
    step = "" if cfg.optimizer == "lbfgs" else f"{_KEEP_BEST}\n{_STEP}"
    return {
        "description": spec.doc, "houses": f"{houses}",
        "scaled": ", sizes and prices standardised" if cfg.normalize else ", in raw units",
        "dataset": module_code(linefit, ["house_points", "Scaler", "closed_form"]),
        "loader": loader_class_code(),
        "model": module_code(linefit, [spec.make.__name__]) + "\n\n\n" + seed_weights_code(),
        "model_cls": spec.make.__name__, "criterion": criterion_call(LOSSES[cfg.loss].make()),
        "optimizer_step": step, "epoch_schedule": _epoch_schedule(cfg, "the epoch's loss"),
    }


def _epoch_schedule(cfg: RunConfig, watched: str) -> str:
    """The plateau schedule's step at an epoch's end, on the watched loss."""
    if not SCHEDULES[cfg.schedule].per_epoch:
        return ""
    value = "metrics['val_loss']" if cfg.task == "classify" else "epoch_loss"
    return f"self.scheduler.step({value})  # lowers the lr when {watched} stalls"


def template_name(cfg: RunConfig) -> str:
    """The template a lesson's script is filled from."""
    return TEMPLATES[cfg.task]

