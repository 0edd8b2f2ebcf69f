"""RunConfig: the single source of truth for every setting (defaults, ranges, validation, round-trips).

The CLI (`--set key=value`), the share link (URL query) and JSON files all use the same keys. The UI
reads each widget's range, choices and help text from `FIELDS`, so nothing is repeated elsewhere.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from playground.config_values import LONG_TEXT, MAX_CODE, check_value, choices, coerce_field, short
from playground.config_values import ConfigError as ConfigError
from playground.config_values import format_value as format_value

PAGE_KEYS = ("title", "note", "hide")  # share-link keys for the page itself (classroom links)


def _f(default: Any, help: str, lo: float | None = None, hi: float | None = None, *,
       choices: str | None = None, log: bool = False, group: str = "run") -> Any:
    """A dataclass field carrying its range, help text and UI group as metadata."""
    meta = {"help": help, "min": lo, "max": hi, "choices": choices, "log": log, "group": group}
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class RunConfig:
    """Every setting of one training run. Frozen: change it with `replace(**changes)`."""

    # What is learned.
    task: str = _f("generate", "The lesson: reproduce a sprite, classify shapes, or fit a line to "
                   "house prices.", choices="task", group="task")
    sprite: str = _f("heart", "The target picture: a gallery sprite, or 'custom' for a drawn or "
                     "uploaded one.", choices="sprite", group="target")
    pixels: str = _f("", "A custom sprite in the compact share code (used when sprite=custom).",
                     group="target")
    size: int = _f(16, "Resolution the sprite is trained at (pixels per side). Bigger is slower.",
                   4, 64, group="target")
    # Classification and line-fit data.
    classes: int = _f(4, "How many shape classes (circle, square, triangle, cross, ring, diamond).",
                      2, 6, group="data")
    samples: int = _f(600, "How many examples are generated (train, validation and test).", 10,
                      5000, group="data")
    noise: float = _f(0.1, "Pixel noise (classify) or price scatter (line); more is harder.",
                      0.0, 1.0, group="data")
    val_split: float = _f(0.2, "Share of the examples held out to validate on.", 0.05, 0.5,
                          group="data")
    test_split: float = _f(0.0, "Share of the examples held out for the final test evaluation "
                           "(never seen in training or model choice).", 0.0, 0.5, group="data")
    dropout: float = _f(0.0, "Classifier dropout: zeroes this share of activations in training "
                        "only; fights overfitting.", 0.0, 0.9, group="data")
    normalize: bool = _f(False, "Line fit: standardise sizes and prices. Without it, a LR that "
                         "suits the bias blows up the weight.", group="data")
    houses: str = _f("", "Line fit: your own points as size:price pairs, e.g. 50:220,80:300 "
                     "(empty = generated).", group="data")
    # The paths lesson's surface.
    surface: str = _f("bowl", "The 2-D loss surface the point rolls down.", choices="surface",
                      group="surface")
    condition: float = _f(10.0, "Bowl: condition number κ = λ_max / λ_min, how much steeper one "
                          "axis is than the other (1 = round).", 1.0, 1000.0, log=True,
                          group="surface")
    rotation: float = _f(0.0, "Bowl: how far its axes are turned from x and y, in degrees.",
                         -90.0, 90.0, group="surface")
    start_x: float = _f(-4.0, "Where the point starts: x.", -10.0, 10.0, group="surface")
    start_y: float = _f(2.0, "Where the point starts: y.", -10.0, 10.0, group="surface")
    grad_noise: float = _f(0.0, "Stochastic surfaces: Gaussian noise added to each gradient, as one "
                           "example's would be; its size is this / √batch_size (0 = exact).",
                           0.0, 100.0, group="surface")
    # The model.
    model: str = _f("coord", "What learns the picture: free pixels, an MLP from a fixed latent, a "
                    "coordinate MLP, or a conv decoder.", choices="model", group="model")
    hidden: int = _f(64, "Width of hidden layers. Wider learns faster per step but costs more.",
                     4, 512, group="model")
    depth: int = _f(2, "Number of hidden layers for the MLPs.", 1, 6, group="model")
    activation: str = _f("relu", "Non-linearity of the coordinate MLP ('sine' = SIREN-style).",
                         choices="activation", group="model")
    fourier: int = _f(16, "Fourier features of the coordinate MLP (0 = raw x, y). More captures "
                      "sharper edges.", 0, 128, group="model")
    fourier_scale: float = _f(4.0, "Frequency spread of the Fourier features; too high gives noise.",
                              0.1, 64.0, group="model")
    latent: int = _f(16, "Size of the fixed random input to the MLP and conv decoder.", 1, 256,
                     group="model")
    loss: str = _f("mse", "What 'wrong' means: squared error, absolute error, Huber, or binary "
                   "cross-entropy.", choices="loss", group="model")
    reduction: str = _f("sum", "How the per-pixel errors become one loss. sum: added up over each "
                        "example (the whole sprite; one pixel for the coordinate MLP and conv "
                        "decoder, which share weights across pixels), averaged over the batch, so "
                        "SGD's good learning rates are the usual 1e-3 to 1. mean: averaged over every "
                        "number (PyTorch's default), which divides every gradient by ~1,000 at 16 px "
                        "and moves SGD's useful rates up by as much.", choices="reduction",
                        group="model")
    # The optimizer.
    optimizer: str = _f("adam", "The update rule applied to the gradients.", choices="optimizer",
                        group="optimizer")
    lr: float = _f(0.001, "Learning rate: the step size. Too small crawls; too large oscillates or "
                   "diverges.", 1e-6, 1000.0, log=True, group="optimizer")
    momentum: float = _f(0.0, "Keeps a running direction (SGD, RMSprop). 0.9 is typical; near 1 "
                         "overshoots.", 0.0, 0.999, group="optimizer")
    nesterov: bool = _f(False, "SGD looks ahead along the momentum before taking the gradient.",
                        group="optimizer")
    betas: tuple[float, float] = _f((0.9, 0.999), "Adam-family decay rates of the first and second "
                                    "moment averages.", 0.0, 0.9999, group="optimizer")
    weight_decay: float = _f(0.0, "Pulls weights toward zero each step; too much blurs the picture.",
                             0.0, 1.0, group="optimizer")
    alpha: float = _f(0.99, "RMSprop's decay of the squared-gradient average.", 0.0, 0.9999,
                      group="optimizer")
    eps: float = _f(1e-8, "Added to denominators for numerical safety (Adam family, RMSprop, "
                    "Adagrad).", 1e-12, 1.0, log=True, group="optimizer")
    history_size: int = _f(10, "LBFGS: how many past steps approximate the curvature.", 1, 100,
                           group="optimizer")
    max_iter: int = _f(4, "LBFGS: function evaluations per optimizer step.", 1, 50,
                       group="optimizer")
    # The schedule.
    schedule: str = _f("constant", "How the learning rate changes over the run.",
                       choices="schedule", group="schedule")
    step_size: int = _f(100, "Steps per decay (step, exponential, plateau patience in epochs) or "
                        "per half cycle (cyclic).", 1, 100000, group="schedule")
    gamma: float = _f(0.5, "Factor the LR is multiplied by every `step_size` steps (step, "
                      "exponential, plateau).", 0.01, 1.0, group="schedule")
    warmup: int = _f(50, "Warm-up steps of warmup_cosine (one-cycle warms up for 30% of the run).",
                     0, 100000, group="schedule")
    min_lr: float = _f(0.0, "Floor of the cosine schedules and the low end of cyclic "
                       "(0 = lr/10 for cyclic).", 0.0, 1000.0, group="schedule")
    # The loop.
    epochs: int = _f(400, "Passes over the data. Gallery models see the whole sprite once per "
                     "epoch.", 1, 1_000_000, group="run")
    batch_size: int = _f(64, "Pixels per batch for the coordinate MLP (others use the whole "
                         "sprite); paths: divides the gradient noise by √batch. Small batches are "
                         "noisy.", 1, 4096, group="run")
    clip_grad_norm: float = _f(0.0, "Rescale gradients whose total norm exceeds this (0 = off).",
                               0.0, 1e6, group="run")
    patience: int = _f(0, "Early stopping: epochs without improvement before stopping (0 = off).",
                       0, 100000, group="run")
    min_delta: float = _f(0.0, "Early stopping: the least change in the watched value that counts "
                          "as improvement.", 0.0, 1.0, group="run")
    monitor: str = _f("loss", "What early stopping and the best checkpoint watch: the loss "
                      "(validation loss where there is validation; lower is better) or the "
                      "validation accuracy (classify; higher is better).", choices="monitor",
                      group="run")
    bug: str = _f("none", "The bug lab: run the loop with one classic mistake in it (none = the "
                  "correct loop).", choices="bug", group="run")
    seed: int = _f(0, "Seeds the weights, the latent and the batch order: same seed, same run.",
                   0, 2**31 - 1, group="run")
    pace: int = _f(60, "Steps per second the app plays a run at, so you can watch it learn "
                   "(0 = as fast as it goes). It changes only the speed: the losses are the same at "
                   "any pace, and the command line always runs flat out.", 0, 1000, group="run")

    def __post_init__(self) -> None:
        """Validate on construction so an invalid config cannot exist."""
        for f in dataclasses.fields(self):
            check_value(f, getattr(self, f.name))
        if self.sprite == "custom" and not self.pixels:
            raise ConfigError("sprite: 'custom' needs a drawn or uploaded sprite in `pixels`")
        _check_task(self)

    # Round-trips -----------------------------------------------------------------------------
    def replace(self, **changes: Any) -> RunConfig:
        """A copy with some fields changed (validated)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict of every field."""
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d

    def to_json(self) -> str:
        """Pretty JSON, re-loadable with `from_json` or `--config`."""
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunConfig:
        """Build from a dict; unknown keys are an error naming them."""
        unknown = sorted(set(data) - set(FIELDS))
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(unknown)}; "
                              f"known: {', '.join(FIELDS)}")
        values = {k: coerce(k, v) for k, v in data.items()}
        return cls(**{**task_defaults(values.get("task", "generate"), values), **values})

    @classmethod
    def from_json(cls, text: str) -> RunConfig:
        """Parse JSON text (never eval) into a validated config."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"config file is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError("config file must hold a JSON object of settings")
        return cls.from_dict(data)

    def to_query(self) -> dict[str, str]:
        """Only the settings that differ from the defaults, as strings, for a short share link."""
        base = RunConfig(**task_defaults(self.task))
        query = {k: format_value(getattr(self, k)) for k in FIELDS
                 if getattr(self, k) != getattr(base, k)}
        if self.task != "generate":
            query = {"task": self.task, **query}
        return query

    @classmethod
    def from_query(cls, query: Mapping[str, Any]) -> tuple[RunConfig, list[str]]:
        """Parse a share link's query; bad or unknown keys fall back to defaults and are reported."""
        good: dict[str, Any] = {}
        problems: list[str] = []
        for key, raw in query.items():
            if isinstance(raw, list | tuple):
                raw = raw[-1] if raw else ""
            if key in PAGE_KEYS:
                continue  # classroom options for the page, not settings of the run
            if key not in FIELDS:
                if len(problems) < 20:
                    problems.append(f"unknown key {short(key)!s} ignored")
                continue
            try:
                value = coerce(key, str(raw)[:MAX_CODE + 1] if key in LONG_TEXT else str(raw)[:200])
                check_value(FIELDS[key], value)
                good[key] = value
            except ConfigError as exc:
                problems.append(str(exc))
        good = {**task_defaults(good.get("task", "generate"), good), **good}
        try:
            return cls(**good), problems
        except ConfigError as exc:  # a cross-field rule: fall back on the task's own defaults
            base = task_defaults(good.get("task", "generate"), good)
            for key in ("sprite", "pixels", "model", "loss", "classes", "bug"):
                good.pop(key, None)
                if key in base:
                    good[key] = base[key]
            try:
                return cls(**good), [*problems, str(exc)]
            except ConfigError:
                return cls(), [*problems, str(exc)]

    # Helpers -------------------------------------------------------------------------------
    @property
    def batches_per_epoch(self) -> int:
        """Optimizer steps in one epoch (the coordinate MLP splits the sprite into batches)."""
        return math.ceil(self.train_examples / self.batch_size)

    @property
    def train_examples(self) -> int:
        """How many examples one epoch passes over (each task's registry entry knows)."""
        from playground.tasks import TASKS  # here, not on top: the task builders bring torch

        return TASKS[self.task].examples(self)

    @property
    def total_steps(self) -> int:
        """Optimizer steps in the whole run."""
        return self.epochs * self.batches_per_epoch


FIELDS: dict[str, dataclasses.Field] = {f.name: f for f in dataclasses.fields(RunConfig)}
_dataclass_init = RunConfig.__init__


def _init_with_task_defaults(self: RunConfig, **values: Any) -> None:
    """`RunConfig(task=...)` starts from that task's defaults, as links do; explicit fields win."""
    _dataclass_init(self, **{**task_defaults(values.get("task", "generate"), values), **values})


RunConfig.__init__ = _init_with_task_defaults  # type: ignore[method-assign]


def _check_task(cfg: RunConfig) -> None:
    """Models and losses belong to a task: say which ones this task allows."""
    from playground.tasks import TASKS

    spec = TASKS[cfg.task]
    for key, allowed in (("model", spec.models), ("loss", spec.losses)):
        if getattr(cfg, key) not in allowed:
            raise ConfigError(f"{key}: {getattr(cfg, key)!r} is not allowed for task {cfg.task}; "
                              f"expected one of {', '.join(allowed)}")
    if cfg.monitor not in spec.monitors:
        raise ConfigError(f"monitor: {cfg.monitor!r} needs a validation accuracy, which task "
                          f"{cfg.task} does not have; use monitor=loss")
    if cfg.task == "classify" and cfg.loss == "bce" and cfg.classes != 2:
        raise ConfigError(f"loss: 'bce' needs classes=2 (got {cfg.classes}); use 'ce' for more")
    from playground.bugs import problem

    if (why := problem(cfg)) is not None:
        raise ConfigError(why)


def task_defaults(task: str, chosen: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The settings a task starts from (generate's are the dataclass defaults), with those that
    follow other choices (a surface's own start point) given what is `chosen`."""
    from playground.tasks import TASKS

    if task not in TASKS:
        return {}
    spec = TASKS[task]
    return {"task": task, **spec.defaults, **spec.follow(chosen or {})}


def coerce(key: str, value: Any) -> Any:
    """Turn a string (CLI, URL) or JSON value into the setting's type; never evaluates code."""
    if key not in FIELDS:
        raise ConfigError(f"unknown setting {short(key)}; known: {', '.join(FIELDS)}")
    return coerce_field(FIELDS[key], value)


def field_spec(name: str) -> dict[str, Any]:
    """Range, choices, default and help for one field: what a widget needs to draw itself."""
    f = FIELDS[name]
    m = dict(f.metadata)
    m["default"] = f.default
    m["choices"] = choices(m["choices"]) if m["choices"] else None
    return m


def parse_assignments(items: list[str]) -> dict[str, Any]:
    """Parse CLI `key=value` strings into typed values."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--set {short(item)}: expected key=value")
        out[key.strip()] = coerce(key.strip(), value)
    return out


DEFAULTS = RunConfig()
