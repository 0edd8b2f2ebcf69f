"""The bug lab's registry: classic training-loop mistakes, keyed by the name a share link, `--set
bug=...` and `--bug` use. Each entry carries what varies: its title, the tasks it applies to, the
wrong line and the right one, the sentence that says what to look for, how it changes the run
(effects.py), the edits that put it into train.py (script.py) and the settings that make it show.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from playground.bugs import effects
from playground.bugs.script import Edit

if TYPE_CHECKING:
    from playground.config import RunConfig

ALL_TASKS = ("generate", "classify", "line")


@dataclass(frozen=True)
class Bug:
    """One mistake: what it looks like in code, where it applies, what it does to a run."""

    title: str
    tasks: tuple[str, ...]
    wrong: str  # the line as the buggy loop writes it
    right: str  # the line as it should be
    watch: str  # one sentence: what to look for on the charts
    chart: str  # what the lab draws beside the loss: a history column, or "retained"
    edits: Callable[[RunConfig], list[Edit]]  # how train.py is changed to run it
    needs: Callable[[RunConfig], str | None] = lambda cfg: None  # why a config cannot show it
    setup: Callable[[RunConfig], dict[str, Any]] = lambda cfg: {}  # settings that make it show
    fix: dict[str, Any] = field(default_factory=dict)  # the correct run's settings besides bug=none
    loop: type[effects.Loop] = effects.Loop  # zero_grad and loss.item() in the update
    squash: Callable | None = None  # applied to the outputs before the loss
    loader: Callable | None = None  # replaces the training loader
    forgets_eval: bool = False  # validates in training mode, with a graph


def _lesson(cfg: RunConfig) -> bool:
    """The classify and line scripts keep their loop in a Trainer class (`self.`)."""
    return cfg.task != "generate"


def _no_zero_grad_edits(cfg: RunConfig) -> list[Edit]:
    return [Edit("optimizer.zero_grad(set_to_none=True)", None,
                 "optimizer.zero_grad() forgotten: every backward() adds to the gradients already "
                 "there")]


def _forward_edits(squash: str, why: str) -> Callable[[RunConfig], list[Edit]]:
    """The training forward pass given to the loss through `squash`."""
    def edits(cfg: RunConfig) -> list[Edit]:
        model = "self.model(x)" if _lesson(cfg) else "model(x)"
        return [Edit(f"criterion({model}, y)", f"criterion({squash.format(model)}, y)", why)]
    return edits


def _no_eval_edits(cfg: RunConfig) -> list[Edit]:
    return [Edit("self.model.eval()", None, "model.eval() forgotten: dropout stays on while "
                 "validating"),
            Edit("with torch.no_grad():  # no graph: validation only reads the model",
                 "with torch.enable_grad():",
                 "torch.no_grad() forgotten: a graph is built for every validation pass")]


def _unshuffled_edits(cfg: RunConfig) -> list[Edit]:
    return [Edit("train_loader = loader(cfg, x_train, y_train)  # shuffles with its own seeded "
                 "generator",
                 "order = torch.argsort(y_train, stable=True)  # the set arrives sorted by class\n"
                 "train_loader = DataLoader(TensorDataset(x_train[order], y_train[order]),\n"
                 "                          batch_size=cfg.batch_size, shuffle=False)",
                 "shuffle=False on a class-sorted set: each epoch shows one class after another")]


def _unnormalized_edits(cfg: RunConfig) -> list[Edit]:
    return [Edit("Scaler(points, cfg.normalize)", "Scaler(points, False)",
                 "sizes (40-220 m²) and prices go in raw: the weight's gradient dwarfs the bias's")]


def _accumulation_edits(cfg: RunConfig) -> list[Edit]:
    total = "self.epoch_total" if _lesson(cfg) else "epoch_total"
    start = "losses = []" if _lesson(cfg) else "epoch_losses = []"
    return [Edit(start, f"{start.split(' =')[0]}, {total} = [], 0.0", None),
            Edit("loss_value = loss.item()", f"{total} += loss",
                 "the epoch total adds the tensor `loss`, not `loss.item()`: each batch's graph "
                 "stays linked to it until the epoch ends", after=True)]


def _needs_loss(loss: str) -> Callable[[RunConfig], str | None]:
    return lambda cfg: None if cfg.loss == loss else f"needs loss={loss} (got {cfg.loss})"


def _needs_dropout(cfg: RunConfig) -> str | None:
    if cfg.model == "logreg":
        return "needs a model with dropout (mlp or cnn), not logreg"
    return None if cfg.dropout > 0 else "shows only with dropout: set dropout above 0, e.g. 0.5"


def _needs_steps(cfg: RunConfig) -> str | None:
    return "needs an optimizer other than lbfgs (its closure keeps no total)" \
        if cfg.optimizer == "lbfgs" else None


def _dropout_setup(cfg: RunConfig) -> dict[str, Any]:
    out: dict[str, Any] = {} if cfg.dropout > 0 else {"dropout": 0.5}
    return {**out, "model": "mlp"} if cfg.model == "logreg" else out


def _bce_setup(cfg: RunConfig) -> dict[str, Any]:
    return {"loss": "bce", "classes": 2} if cfg.task == "classify" else {"loss": "bce"}


BUGS: dict[str, Bug] = {
    "no_zero_grad": Bug(
        "Forgetting optimizer.zero_grad()", ALL_TASKS,
        "# optimizer.zero_grad()  (forgotten)", "optimizer.zero_grad()",
        "Watch the gradient norm: without zero_grad it climbs with every batch, since each "
        "backward() adds to the gradients of all the batches before.",
        "grad_norm", _no_zero_grad_edits, loop=effects.NoZeroGrad),
    "no_eval": Bug(
        "Forgetting model.eval() / torch.no_grad() in validation", ("classify",),
        "metrics = validate(model)  # still in train mode, with a graph",
        "model.eval()\nwith torch.no_grad(): metrics = validate(model)",
        "Watch the validation loss: with dropout still on it comes out higher and jumpier "
        "than the same weights score in eval mode.",
        "val_loss", _no_eval_edits, needs=_needs_dropout, setup=_dropout_setup, forgets_eval=True),
    "sigmoid_bce": Bug(
        "A sigmoid before BCEWithLogitsLoss (squashed twice)", ("generate", "classify"),
        "loss = criterion(torch.sigmoid(model(x)), y)", "loss = criterion(model(x), y)",
        "Watch the loss flatten high: the loss applies its own sigmoid, so it only ever sees "
        "probabilities between 0.5 and 0.73, and the gradients shrink.",
        "grad_norm", _forward_edits("torch.sigmoid({})", "a sigmoid before BCEWithLogitsLoss, "
                                    "which applies its own: the outputs are squashed twice"),
        needs=_needs_loss("bce"), setup=_bce_setup, squash=effects.sigmoid),
    "softmax_ce": Bug(
        "A softmax before CrossEntropyLoss", ("classify",),
        "loss = criterion(torch.softmax(model(x), dim=1), y)", "loss = criterion(model(x), y)",
        "Watch the loss stall far above zero: CrossEntropyLoss takes logits and applies its own "
        "softmax, so scores squeezed into 0-1 can never make it confident.",
        "loss", _forward_edits("torch.softmax({}, dim=1)", "a softmax before CrossEntropyLoss, "
                               "which applies its own: the scores are squashed into 0-1"),
        needs=_needs_loss("ce"), setup=lambda cfg: {"loss": "ce"}, squash=effects.softmax),
    "unshuffled": Bug(
        "Not shuffling a class-sorted training set", ("classify",),
        "DataLoader(sorted_by_class, batch_size=32, shuffle=False)",
        "DataLoader(sorted_by_class, batch_size=32, shuffle=True)",
        "Watch the training loss saw-tooth: it falls within each class's block of batches (the "
        "model learns to answer that one class) and leaps where the order moves to another "
        "class, while validation accuracy lags.",
        "val_accuracy", _unshuffled_edits, loader=effects.sorted_loader),
    "unnormalized": Bug(
        "Unnormalised inputs", ("line",),
        "x, y = sizes, prices  # raw: 40-220 m², 150-800 k",
        "x = (sizes - sizes.mean()) / sizes.std()  # and the prices alike",
        "Watch the raw run blow up at a learning rate the standardised run takes in its stride: "
        "the weight's gradient is thousands of times the bias's.",
        "grad_norm", _unnormalized_edits,
        needs=lambda cfg: "is the line fit with normalize=false" if cfg.normalize else None,
        setup=lambda cfg: {"normalize": False, "optimizer": "sgd", "lr": 0.1},
        fix={"normalize": True}),
    "loss_accumulation": Bug(
        "Accumulating loss instead of loss.item()", ALL_TASKS,
        "epoch_total += loss", "epoch_total += loss.item()",
        "Watch the retained graph: the losses are identical, but the buggy loop keeps every "
        "batch's autograd graph alive until the epoch ends, and that memory grows with each batch.",
        "retained", _accumulation_edits, needs=_needs_steps,
        setup=lambda cfg: {"batch_size": 8} if cfg.task == "line" else {},
        loop=effects.AccumulatedLoss),
}


def problem(cfg: RunConfig) -> str | None:
    """Why this config's bug cannot run as asked (one sentence), or None."""
    bug = BUGS.get(cfg.bug)
    if bug is None:
        return None
    if cfg.task not in bug.tasks:
        return (f"bug: {cfg.bug!r} is not a mistake of task {cfg.task}; it applies to "
                f"{', '.join(bug.tasks)}")
    why = bug.needs(cfg)
    return f"bug: {cfg.bug!r} {why}" if why else None


def bugs_for(task: str) -> dict[str, Bug]:
    """The bugs a task can show, in registry order."""
    return {name: bug for name, bug in BUGS.items() if task in bug.tasks}


def lab_pair(cfg: RunConfig, name: str) -> tuple[RunConfig, RunConfig]:
    """(correct, buggy) configs for racing bug `name` on the user's settings: the bug's own setup
    (dropout for no_eval, a loss for the squash bugs) applied to both, its fix to the correct one."""
    bug = BUGS[name]
    buggy = cfg.replace(**{**bug.setup(cfg), "bug": name})
    return buggy.replace(bug="none", **bug.fix), buggy
