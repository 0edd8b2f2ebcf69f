"""The other registries keep their promises too: every reduction, landscape direction, Tune objective
and pruner, LR regime, device, compare job, ready-made race and lesson preset does what its entry
says, and the page's lesson panels and race presets are read from the registries. Adding an entry
adds its tests here (some tests hold a table keyed like the registry, checked to match it)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import optuna
import pandas as pd
import pytest
import torch

from playground.compare import Race
from playground.compare.landscape import DIRECTIONS, LandscapeOptions, compute
from playground.compare.regimes import REGIMES, regime
from playground.compare.tune import OBJECTIVES, PRUNERS, TuneOptions, make_pruner, objectives_for, run_study
from playground.compare.tune_space import parse_search
from playground.config import FIELDS, ConfigError, RunConfig, field_spec, task_defaults
from playground.devices import DEVICES, resolve
from playground.engine import Trainer
from playground.lessons.classify import PRESETS
from playground.lessons.path_presets import RACES
from playground.losses import REDUCTIONS, make_criterion
from playground.optim import OPTIMIZERS
from playground.serve.limits import Limits
from playground.serve.trajectory import weights_now
from playground.serve.work import JOBS
from playground.serve.worker import pack
from playground.surfaces import SURFACES
from playground.tasks import TASKS

optuna.logging.set_verbosity(optuna.logging.WARNING)
SPRITE = RunConfig(model="pixels", size=8, epochs=6, pace=0)
CLASSIFY = RunConfig(**{**task_defaults("classify"), "size": 8, "samples": 60, "epochs": 4, "pace": 0})
LINE = RunConfig(**{**task_defaults("line"), "epochs": 3, "pace": 0})


def doc_line(text: str) -> bool:
    """A registry doc: one plain sentence or phrase, not a placeholder."""
    return isinstance(text, str) and len(text) > 15 and "\n" not in text


# Loss reductions -------------------------------------------------------------------------------
# What each reduction's doc says the loss is, from the per-element errors of a batch.
REDUCED = {"sum": lambda each: each.sum(dim=(1, 2, 3)).mean(), "mean": lambda each: each.mean()}


@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_reduction_computes_what_its_doc_says_and_trains(name: str) -> None:
    assert set(REDUCED) == set(REDUCTIONS) and doc_line(REDUCTIONS[name])
    assert name in field_spec("reduction")["choices"]
    out, target = torch.randn(3, 4, 5, 5, generator=torch.Generator().manual_seed(0)), torch.rand(3, 4, 5, 5)
    criterion = make_criterion("mse", name, (1, 2, 3))
    each = (out - target) ** 2
    assert torch.allclose(criterion(out, target), REDUCED[name](each))
    trainer = Trainer(SPRITE.replace(reduction=name))
    first = trainer.step().loss
    assert math.isfinite(first) and trainer.step().loss < first


# Landscape directions ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def line_run() -> tuple[dict[str, Any], list[tuple[int, np.ndarray]]]:
    """A short line-fit run's final state and its weights after every step (the landscape's path)."""
    trainer = Trainer(LINE.replace(normalize=True, lr=0.05, batch_size=8))
    path = [(0, weights_now(trainer.params))]
    while not trainer.done:
        row = trainer.step()
        path.append((row.step, weights_now(trainer.params)))
    return trainer.state_dict(), path


@pytest.mark.parametrize("name", list(DIRECTIONS))
def test_direction_draws_a_finite_landscape_around_the_run(name: str, line_run) -> None:
    state, path = line_run
    assert doc_line(DIRECTIONS[name])
    options = LandscapeOptions(directions=name, resolution=5)
    options.check(10_000)
    scape = compute(LINE.replace(normalize=True, lr=0.05, batch_size=8), None, state, path, options)
    assert scape.kind == name and scape.grid.shape == (5, 5) and np.isfinite(scape.grid).all()
    assert len(scape.path) == len(path) and scape.evaluations >= 25 + len(path)


# Tune objectives and pruners ---------------------------------------------------------------------
@pytest.mark.parametrize("name", list(OBJECTIVES))
def test_objective_scores_a_trial_of_a_task_that_offers_it(name: str) -> None:
    goal = OBJECTIVES[name]
    assert doc_line(goal.doc) and goal.direction in ("minimize", "maximize")
    tasks = [t for t in TASKS if name in objectives_for(t)]
    assert tasks and all(goal.column in TASKS[t].columns for t in tasks)
    assert all((goal.needs is None or goal.needs in TASKS[t].columns) == (t in tasks) for t in TASKS)
    base = CLASSIFY if "classify" in tasks else SPRITE
    study = run_study(base, parse_search(["lr=1e-3:1e-1:log"], base),
                      TuneOptions(trials=1, objective=name, pruner="none"))
    assert study.direction.name.lower() == goal.direction and math.isfinite(study.best_value)


@pytest.mark.parametrize("name", list(PRUNERS))
def test_pruner_is_built_and_a_study_with_it_finishes(name: str) -> None:
    assert doc_line(PRUNERS[name])
    pruner = make_pruner(name, SPRITE)
    assert isinstance(pruner, optuna.pruners.BasePruner)
    assert isinstance(pruner, optuna.pruners.NopPruner) == (name == "none")
    study = run_study(SPRITE, parse_search(["lr=1e-3:1e-1:log"], SPRITE),
                      TuneOptions(trials=2, pruner=name))
    assert len(study.trials) == 2 and math.isfinite(study.best_value)


# LR regimes ----------------------------------------------------------------------------------------
# A per-epoch loss curve (and the run's status) that shows each regime as its doc describes it.
CURVES = {"crawl": ([1.0, 0.9, 0.8, 0.7], "completed"), "converge": ([1.0, 0.3, 0.05, 0.01], "completed"),
          "oscillate": ([1.0, 1.4, 0.9, 1.5, 1.1], "completed"), "diverge": ([1.0, 50.0], "diverged")}


@pytest.mark.parametrize("name", list(REGIMES))
def test_regime_is_what_a_curve_like_its_doc_is_called(name: str) -> None:
    assert set(CURVES) == set(REGIMES) and doc_line(REGIMES[name])
    losses, status = CURVES[name]
    assert regime(np.array(losses), status) == name


# Devices -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(DEVICES))
def test_device_resolves_or_says_in_one_sentence_why_not(name: str) -> None:
    assert doc_line(DEVICES[name])
    try:
        device = resolve(name)
    except ConfigError as exc:
        assert name != "cpu" and name in str(exc) and "--device" in str(exc)
        return
    assert device.type == (name if name != "auto" else device.type)
    assert torch.zeros(2, device=device).sum().item() == 0.0


# Compare jobs ----------------------------------------------------------------------------------------
class FakeJob:
    """The worker's job channel, in this process: what a job publishes is kept."""

    def __init__(self) -> None:
        self.limits, self.cancelled, self.published = Limits(), False, {}

    def publish(self, **state: Any) -> None:
        self.published.update(state)

    def check(self) -> None:
        """Never cancelled, never out of time."""


def _landscape_args() -> tuple:
    trainer = Trainer(LINE)
    path = [(0, weights_now(trainer.params))]
    while not trainer.done:
        path.append((trainer.step().step, weights_now(trainer.params)))
    return LINE, None, pack(trainer.state_dict()), path, LandscapeOptions(resolution=5)


# Each job's arguments (small) and what its result or its last publication must show.
JOB_CASES: dict[str, tuple] = {
    "race": (lambda: ([SPRITE, SPRITE.replace(lr=0.5)], ["a", "b"], None),
             lambda out, pub: list(pub["leaderboard"]["name"]) and pub["progress"] == 1.0),
    "stability": (lambda: (SPRITE, [0.01, 0.1], ["sgd", "adam"], 4),
                  lambda out, pub: isinstance(out, pd.DataFrame) and len(out) == 4),
    "lr_find": (lambda: (SPRITE.replace(optimizer="sgd"), {"steps": 30}),
                lambda out, pub: len(out.frame) > 0),
    "bug_race": (lambda: (CLASSIFY.replace(epochs=1), "no_zero_grad"),
                 lambda out, pub: pub["step"] > 0 and len(pub["statuses"]) == 2),
    "tune": (lambda: (SPRITE, parse_search(["lr=1e-3:1e-1:log"], SPRITE),
                      TuneOptions(trials=2, pruner="none", timeout=60)),
             lambda out, pub: len(pub["trials"]) == 2 and pub["best_value"] is not None),
    "landscape": (_landscape_args, lambda out, pub: out.grid.shape == (5, 5)
                  and pub["evaluations"] == out.evaluations and pub["progress"] == 1.0),
}


@pytest.mark.parametrize("name", list(JOBS))
def test_compare_job_runs_in_process_and_gives_its_result(name: str) -> None:
    assert set(JOB_CASES) == set(JOBS), "a new job needs its case here"
    args, ok = JOB_CASES[name]
    job = FakeJob()
    out = JOBS[name](job, *args())
    assert ok(out, job.published)


# The paths lesson's races and the classify lesson's presets -------------------------------------------
@pytest.mark.parametrize("name", list(RACES))
def test_ready_made_path_race_is_valid_and_runs(name: str) -> None:
    setup, rows = RACES[name]
    assert setup["surface"] in SURFACES and len(rows) >= 2
    assert set(setup) <= set(FIELDS) and all(set(r) <= set(FIELDS) for r in rows)
    base = RunConfig(**{**task_defaults("paths"), **setup, "epochs": 5, "pace": 0})
    configs = [base.replace(**row) for row in rows]
    race = Race(configs, [str(i) for i in range(len(rows))])
    while not race.done:
        race.step()
    assert race.step_count == 5 and all(s in ("completed", "diverged") for s in race.statuses)
    assert TASKS["paths"].races[name] == RACES[name]


@pytest.mark.parametrize("name", list(PRESETS))
def test_classify_preset_is_a_valid_config_that_trains(name: str) -> None:
    preset = PRESETS[name]
    assert set(preset) <= set(FIELDS)
    cfg = RunConfig(**{**task_defaults("classify"), **preset, "epochs": 1, "size": 8})
    assert all(getattr(cfg, k) == v for k, v in preset.items() if k not in ("epochs", "size"))
    assert math.isfinite(Trainer(cfg).step().loss)


# Models' race learning rates and the page's presets --------------------------------------------------
RACE_MODELS = [(t, m) for t, spec in TASKS.items() if not spec.races for m in spec.models]


@pytest.mark.parametrize(("task", "model"), RACE_MODELS)
def test_model_race_rates_are_valid_and_the_compare_presets_use_them(task: str, model: str) -> None:
    from playground.ui.compare import presets

    rates = TASKS[task].models[model].race_lr
    low, high = field_spec("lr")["min"], field_spec("lr")["max"]
    assert set(rates) == {"sgd", "adam"} <= set(OPTIMIZERS) and all(low <= v <= high for v in rates.values())
    cfg = RunConfig(**{**task_defaults(task), "model": model})
    race = presets(cfg)["SGD vs momentum vs Adam"]
    assert [r["lr"] for r in race] == [rates["sgd"], rates["sgd"] / 10, rates["adam"]]


@pytest.mark.parametrize("task", [t for t, spec in TASKS.items() if spec.races or spec.surface_map])
def test_a_task_with_its_own_races_offers_exactly_those(task: str) -> None:
    from playground.ui.compare import presets

    spec = TASKS[task]
    cfg = RunConfig(**task_defaults(task))
    assert presets(cfg) == {name: rows for name, (_, rows) in spec.races.items()}
    assert not spec.surface_map or "surface" in spec.fields


# The page's lesson panels (imported only: Streamlit draws nothing here) -------------------------------
def test_every_lesson_without_a_sprite_has_a_panel_and_only_those() -> None:
    from playground.ui.lessons import PANELS

    assert set(PANELS) == {t for t, spec in TASKS.items() if not spec.sprite}
    assert all(callable(p.data) and callable(p.draw) for p in PANELS.values())
