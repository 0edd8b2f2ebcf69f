"""The loop as the by-line view shows it: the exported train.py's own lines for this run's model,
loss and optimizer, each marked with the line of loop_lines.LINES it runs.

One change from train.py: its `loss = criterion(model(x), y)` is written as two lines here
(`output = model(x)`, then `loss = criterion(output, y)`), since forward and loss are two presses.
"""

from __future__ import annotations

from playground.config import RunConfig
from playground.export.loop_code import criterion_call, criterion_code, optimizer_code, scheduler_code
from playground.lessons import classify, linefit
from playground.losses import LOSSES
from playground.models import MODELS
from playground.schedules import SCHEDULES

# the statements as train.py writes them (tests/test_loop_view.py checks they are there)
ZERO_GRAD = "optimizer.zero_grad(set_to_none=True)"
FORWARD = "output = model(x)  # forward: the model's guess for this batch"
LOSS = "loss = criterion(output, y)  # how wrong is the guess? one number"
BACKWARD = "loss.backward()  # backward: the gradient of the loss for every weight"
STEP = "optimizer.step()  # update the weights"
CLIP = "nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad_norm)  # rescale big gradients"

Line = tuple[str, int | None]  # source text, and the index in LINES of the line it runs (or None)


def panel_lines(cfg: RunConfig) -> list[Line]:
    """The model, the loss, the optimizer and the loop over epochs and batches."""
    head = [f"model = seed_weights({_model_class(cfg)}(cfg), cfg.seed)",
            f"criterion = {_criterion(cfg)}", *_dedent(f"optimizer = {optimizer_code(cfg)}")]
    per_epoch = SCHEDULES[cfg.schedule].per_epoch
    if cfg.schedule != "constant":
        head += scheduler_code(cfg).splitlines()  # (written for the top level already)
    body: list[Line] = [(text, None) for text in head]
    body += [("for epoch in range(1, cfg.epochs + 1):", None), ("    model.train()", None),
             ("    for x, y in loader:", None)]
    inner = [(ZERO_GRAD, 0), (FORWARD, 1), (LOSS, 2), (BACKWARD, 3)]
    if cfg.clip_grad_norm > 0:
        inner.append((CLIP, 4))
    inner.append((STEP, 4))
    if cfg.schedule != "constant" and not per_epoch:
        inner.append(("scheduler.step()  # the schedule moves once per optimizer step", 4))
    body += [("        " + text, index) for text, index in inner]
    if per_epoch:
        watched = "val_loss" if cfg.task == "classify" else "epoch_loss"
        body.append((f"    scheduler.step({watched})  # lowers the lr when it stalls", None))
    return body


def _model_class(cfg: RunConfig) -> str:
    specs = {"classify": classify.CLASSIFIERS, "line": linefit.LINE_MODELS}.get(cfg.task, MODELS)
    return specs[cfg.model].make.__name__


def _criterion(cfg: RunConfig) -> str:
    if cfg.task == "classify":
        return criterion_call(classify.CLASS_LOSSES[cfg.loss].make())
    if cfg.task == "line":
        return criterion_call(LOSSES[cfg.loss].make())
    return criterion_code(cfg)


def _dedent(code: str) -> list[str]:
    """train.py's code written for main()'s body (four spaces in) as top-level lines."""
    first, *rest = code.splitlines()
    return [first, *(line[4:] if line.startswith("    ") else line for line in rest)]
