"""Every registry entry keeps its promises: tasks build and train with their own columns, fields and
example counts; each model reads exactly the settings its entry says it uses; every activation,
loss, optimizer and schedule runs. Adding an entry adds its tests here."""

from __future__ import annotations

import math

import pytest
import torch

from playground.config import FIELDS, RunConfig, field_spec, task_defaults
from playground.engine import Trainer
from playground.models import ACTIVATIONS
from playground.optim import OPTIMIZERS
from playground.schedules import SCHEDULES
from playground.tasks import TASKS, build, model_doc, models_help

TASK_MODELS = [(task, model) for task, spec in TASKS.items() for model in spec.models]
TASK_LOSSES = [(task, loss) for task, spec in TASKS.items() for loss in spec.losses]
SMALL = {"generate": {"size": 8, "epochs": 2}, "classify": {"size": 8, "samples": 40, "epochs": 2},
         "line": {"epochs": 2}, "paths": {"epochs": 2}}


def config(task: str, **changes) -> RunConfig:
    """A small config of this task from its own defaults."""
    return RunConfig(**{**task_defaults(task), **SMALL[task], **changes})


def other_value(name: str, value):
    """A different valid value of a setting (what a user could change it to)."""
    spec = field_spec(name)
    if spec["choices"]:
        return next(c for c in spec["choices"] if c != value)
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value // 2 if value // 2 >= spec["min"] else value * 2
    return value * 0.5 if value else spec["max"] / 2


def fingerprint(cfg: RunConfig) -> tuple:
    """What a built run is made of: parameter shapes and values, buffers, and its batches."""
    torch.manual_seed(12345)  # anything that draws from the global generator would show up
    b = build(cfg)
    state = [(k, tuple(v.shape), float(v.double().sum())) for k, v in b.model.state_dict().items()]
    batches = [tuple(x.shape) for x, _ in b.loader]
    x, _ = next(iter(b.loader))
    with torch.no_grad():
        out = float(b.model(x).double().sum())  # activations and dropout show only in the output
    return tuple(state), tuple(batches), out


@pytest.mark.parametrize("task", list(TASKS))
def test_task_builds_and_trains_with_its_columns(task: str) -> None:
    spec, cfg = TASKS[task], config(task)
    trainer = Trainer(cfg)
    row = trainer.step()
    assert row._fields == spec.columns and trainer.rows.columns == spec.columns
    assert math.isfinite(row.loss) and row.step == 1
    assert (trainer.b.target is not None) == spec.sprite == (trainer.image() is not None)
    assert all(name in FIELDS for name in spec.fields)
    assert set(spec.defaults) <= set(FIELDS) and RunConfig(**task_defaults(task)).task == task


@pytest.mark.parametrize("task", list(TASKS))
def test_task_counts_its_examples_per_epoch(task: str) -> None:
    cfg = config(task)
    b = build(cfg)
    seen = sum(len(x) for x, _ in b.loader)
    assert seen == cfg.train_examples or (TASKS[task].sprite and cfg.model != "coord" and seen == 1)
    assert cfg.batches_per_epoch == len(b.loader)


@pytest.mark.parametrize(("task", "model"), TASK_MODELS)
def test_model_entry_has_a_doc_and_trains(task: str, model: str) -> None:
    entry = TASKS[task].models[model]
    assert entry.doc and entry.doc[0].isupper() and all(u in FIELDS for u in entry.uses)
    result = Trainer(config(task, model=model))
    assert result.step() is not None and result.step() is not None


@pytest.mark.parametrize(("task", "model"), TASK_MODELS)
def test_model_reads_exactly_the_settings_it_says_it_uses(task: str, model: str) -> None:
    """The sidebar shows a model's `uses` under "Model details": each must change the run, and the
    model settings it does not list must not (else a learner moves a knob that does nothing)."""
    cfg = config(task, model=model)
    base = fingerprint(cfg)
    uses = TASKS[task].models[model].uses
    model_fields = {n for n, f in FIELDS.items() if f.metadata["group"] == "model"} - {"model", "loss"}
    for name in uses:
        changed = cfg.replace(**{name: other_value(name, getattr(cfg, name))})
        assert fingerprint(changed) != base, f"{model} lists {name} but ignores it"
    for name in model_fields - set(uses):
        changed = cfg.replace(**{name: other_value(name, getattr(cfg, name))})
        assert fingerprint(changed) == base, f"{model} reads {name} but does not list it"


@pytest.mark.parametrize(("task", "loss"), TASK_LOSSES)
def test_every_loss_of_every_task_gives_a_finite_first_step(task: str, loss: str) -> None:
    classes = {"classes": 2} if loss == "bce" and task == "classify" else {}
    trainer = Trainer(config(task, loss=loss, **classes))
    assert TASKS[task].losses[loss].doc
    assert math.isfinite(trainer.step().loss)


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_every_activation_trains_the_coordinate_mlp(activation: str) -> None:
    trainer = Trainer(config("generate", model="coord", activation=activation, epochs=3))
    losses = [trainer.step().loss for _ in range(trainer.cfg.total_steps)]
    assert all(math.isfinite(v) for v in losses) and trainer.status == "completed"
    out = ACTIVATIONS[activation]()(torch.linspace(-1, 1, 5))
    assert out.shape == (5,) and not torch.equal(out, torch.linspace(-1, 1, 5))


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_optimizer_entry_uses_real_settings_and_has_a_doc(name: str) -> None:
    spec = OPTIMIZERS[name]
    assert spec.doc and all(u in FIELDS for u in spec.uses)


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_schedule_entry_uses_real_settings_and_has_a_doc(name: str) -> None:
    spec = SCHEDULES[name]
    assert spec.doc and all(u in FIELDS for u in spec.uses)


def test_a_model_key_shared_by_tasks_keeps_each_tasks_doc() -> None:
    assert model_doc("generate", "mlp").startswith("MLP generator")
    assert model_doc("classify", "mlp").startswith("MLP classifier")
    assert "MLP classifier" not in models_help("generate")
    assert models_help("classify").count("\n- **") == len(TASKS["classify"].models) - 1
