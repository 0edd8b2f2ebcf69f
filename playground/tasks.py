"""Task registry: what is being learned. Each entry carries everything that varies between lessons
(its builder, models, losses, defaults, history columns, the data settings the sidebar shows, and
whether it learns a sprite), so the engine, the CLI and the page never branch on a task's name.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from playground import losses, models
from playground.history import COLUMNS
from playground.lessons import classify, linefit, path_presets, paths
from playground.lessons.build import CLASSIFY_COLUMNS, build_classify, build_line
from playground.lessons.generate import build_generate

if TYPE_CHECKING:
    from playground.config import RunConfig
    from playground.ingredients import Built


@dataclass(frozen=True)
class TaskSpec:
    """One lesson: how to build it, what it offers, and what the page shows for it."""

    build: Callable[[RunConfig, np.ndarray | None], Built]
    models: dict[str, models.ModelSpec]
    losses: dict[str, losses.LossSpec]
    defaults: dict[str, Any] = field(default_factory=dict)
    doc: str = ""
    columns: tuple[str, ...] = COLUMNS  # the history row: every step's, plus per-epoch metrics
    fields: tuple[str, ...] = ()  # data settings the sidebar shows under "Data"
    sprite: bool = False  # learns a sprite: target picker, pictures, filmstrip, GIF and train.py
    examples: Callable[[RunConfig], int] = lambda cfg: cfg.samples  # examples in one epoch
    monitors: tuple[str, ...] = ("loss",)  # what early stopping and the best checkpoint can watch
    follow: Callable[[Mapping[str, Any]], dict[str, Any]] = lambda chosen: {}  # defaults that
    # depend on other chosen settings (a surface's start point)
    # Ready-made races of its own, name -> (the setup, one row per contender), in place of the
    # Compare tab's generic ones; and whether its runs are points drawn as paths on a surface map.
    races: Mapping[str, tuple[dict[str, Any], list[dict[str, Any]]]] = field(default_factory=dict)
    surface_map: bool = False


def _sprite_examples(cfg: RunConfig) -> int:
    """The coordinate MLP's examples are pixels; the other models see one whole sprite."""
    return cfg.size * cfg.size if cfg.model == "coord" else cfg.batch_size


def _classify_examples(cfg: RunConfig) -> int:
    """What is left for training after the validation and test splits."""
    return classify.split_sizes(cfg)[0]


def _line_examples(cfg: RunConfig) -> int:
    """The user's own points when given, else the generated ones."""
    return len(cfg.houses.split(",")) if cfg.houses else cfg.samples


# the line fit averages its squared errors as PyTorch does: no `reduction` setting
LINE_LOSSES = {k: dataclasses.replace(losses.LOSSES[k], uses=()) for k in ("mse", "l1", "huber")}

TASKS: dict[str, TaskSpec] = {
    "generate": TaskSpec(
        build_generate, models.MODELS, losses.LOSSES, {},
        "Reproduce a pixel-art sprite: every optimizer step you can see.",
        sprite=True, examples=_sprite_examples),
    "classify": TaskSpec(
        build_classify, classify.CLASSIFIERS, classify.CLASS_LOSSES,
        {"model": "cnn", "loss": "ce", "lr": 0.01, "epochs": 20, "batch_size": 32, "hidden": 64,
         "depth": 2, "size": 12, "patience": 5, "min_delta": 0.001, "test_split": 0.15},
        "Classify shape sprites: epochs and batches, train vs validation.",
        columns=(*COLUMNS, *CLASSIFY_COLUMNS),
        fields=("classes", "samples", "noise", "val_split", "test_split"),
        examples=_classify_examples, monitors=("loss", "accuracy")),
    "line": TaskSpec(
        build_line, linefit.LINE_MODELS, LINE_LOSSES,
        {"model": "linear", "loss": "mse", "optimizer": "sgd", "lr": 1e-5, "epochs": 100,
         "batch_size": 40, "samples": 40},
        "Fit a line to house prices: the smallest training loop there is.",
        fields=("normalize", "samples", "noise"), examples=_line_examples),
    "paths": TaskSpec(
        paths.build_paths, paths.POINT_MODELS, paths.PATH_LOSSES,
        {"model": "point", "loss": "surface", "optimizer": "sgd", "lr": 0.1, "epochs": 300,
         "batch_size": 1, "pace": 30},
        "Roll a point down a 2-D surface: see why optimizers take the paths they take.",
        columns=(*COLUMNS, *paths.PATH_COLUMNS),
        fields=("surface", "condition", "rotation", "start_x", "start_y", "grad_noise",
                "batch_size"),
        examples=lambda cfg: 1, follow=paths.surface_start, races=path_presets.RACES,
        surface_map=True),
}


def build(cfg: RunConfig, target: np.ndarray | None = None) -> Built:
    """Model, data, loss, optimizer and scheduler of any task, deterministically from `cfg.seed`."""
    return TASKS[cfg.task].build(cfg, target)


def model_doc(task: str, model: str) -> str:
    """A model's line from its own task's registry: keys repeat across tasks ('mlp' is a sprite
    generator in one lesson and a shape classifier in another)."""
    return TASKS[task].models[model].doc


def models_help(task: str) -> str:
    """What each of a task's models is, as the model picker's help (markdown bullets)."""
    return "\n".join(f"- **{name}**: {model_doc(task, name)}" for name in TASKS[task].models)


def model_names() -> dict[str, None]:
    """Every model key of every task (each task checks its own)."""
    return {name: None for spec in TASKS.values() for name in spec.models}


def loss_names() -> dict[str, None]:
    """Every loss key of every task."""
    return {name: None for spec in TASKS.values() for name in spec.losses}
