"""The classification and line-fit lessons: same config, engine, worker and CLI as sprites."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from playground import RunConfig, train
from playground.cli import main
from playground.engine import Trainer, build
from playground.lessons.classify import PRESETS, CentreShape, make_dataset, split, split_sizes
from playground.lessons.linefit import closed_form, house_points
from playground.tasks import TASKS


def classify_cfg(**changes) -> RunConfig:
    return RunConfig.from_dict({"task": "classify", **changes})


def test_every_task_model_and_loss_builds_and_steps() -> None:
    for task, spec in TASKS.items():
        for model in spec.models:
            for loss in spec.losses:
                extra = {"classes": 2} if loss == "bce" else {}
                cfg = RunConfig.from_dict({"task": task, "model": model, "loss": loss, "epochs": 1,
                                           "samples": 40, **extra})
                trainer = Trainer(cfg)
                assert trainer.step() is not None, (task, model, loss)


def test_dataset_is_seeded_and_balanced() -> None:
    cfg = classify_cfg(samples=120)
    x1, y1 = make_dataset(cfg)
    x2, y2 = make_dataset(cfg)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert x1.shape == (120, 3, cfg.size, cfg.size) and x1.min() >= 0 and x1.max() <= 1
    assert np.bincount(y1.numpy()).tolist() == [30, 30, 30, 30]
    assert not torch.equal(make_dataset(cfg.replace(seed=1))[0], x1)


def test_default_classifier_reaches_high_validation_accuracy() -> None:
    # 90% on four shapes at random places, sizes and colours (chance is 25%)
    result = train(classify_cfg())
    hist = result.history.dropna(subset=["val_accuracy"])
    assert hist["val_accuracy"].max() >= 0.9
    assert {"val_loss", "val_accuracy", "train_accuracy"} <= set(result.history.columns)


def test_mlp_classifier_learns_at_the_defaults() -> None:
    # on raw pixels the MLP reached 0.39-0.44 here: its weights belong to fixed pixel positions
    result = train(RunConfig(task="classify", model="mlp", seed=0))
    acc = result.history["val_accuracy"].dropna()
    assert acc.iloc[-1] >= 0.85 and result.history["train_accuracy"].dropna().iloc[-1] >= 0.9


def test_centre_shape_moves_a_shape_to_the_middle() -> None:
    sprites = torch.full((2, 3, 12, 12), 0.1)
    sprites[0, :, 1:4, 1:5] = 0.9  # the same bar in the top-left corner ...
    sprites[1, :, 7:10, 6:10] = 0.9  # ... and lower right
    centred = CentreShape()(sprites)
    assert (sprites[0] - sprites[1]).abs().max() > 0.5
    assert torch.allclose(centred[0], centred[1], atol=1e-4)
    assert centred[0, 0, 5:7, 4:8].min() > 1.0  # standardised: the shape is bright in the middle


def test_history_has_validation_only_at_epoch_ends() -> None:
    cfg = classify_cfg(samples=100, epochs=3, patience=0)
    hist = train(cfg).history
    per_epoch = cfg.batches_per_epoch
    assert len(hist) == 3 * per_epoch
    ends = hist.dropna(subset=["val_loss"])
    assert ends["step"].tolist() == [per_epoch, 2 * per_epoch, 3 * per_epoch]


def test_validation_is_deterministic_with_dropout_and_leaves_train_mode() -> None:
    cfg = classify_cfg(model="mlp", dropout=0.5, samples=100)
    b = build(cfg)
    first, second = b.evaluate(b.model), b.evaluate(b.model)
    assert first == second  # eval() switches dropout off
    assert b.model.training
    x, _ = next(iter(b.loader))
    with torch.no_grad():
        assert not torch.equal(b.model(x), b.model(x))  # train mode: dropout on


class CraftedValidation:
    """Replaces a real validation pass with a chosen sequence of validation losses."""

    def __init__(self, losses: list[float]) -> None:
        self.losses = iter(losses)

    def __call__(self, model) -> dict[str, float]:
        return {"val_loss": next(self.losses), "val_accuracy": 0.5, "train_accuracy": 0.5}


def test_early_stopping_triggers_on_a_crafted_curve_and_restores_the_best() -> None:
    cfg = classify_cfg(samples=40, epochs=50, patience=3, min_delta=0.01)
    b = build(cfg)
    b.evaluate = CraftedValidation([1.0, 0.8, 0.6, 0.595, 0.7, 0.65] + [0.9] * 50)
    trainer = Trainer(cfg, b)
    while not trainer.done:
        trainer.step()
    assert trainer.status == "early_stopped" and trainer.epoch == 6
    assert trainer.best_epoch == 4 and trainer.best_loss == 0.595
    assert any(e[1] == "early_stop" for e in trainer.events)
    hist = trainer.rows.table().frame().dropna(subset=["bad_epochs"])
    assert hist["bad_epochs"].tolist() == [0, 0, 0, 1, 2, 3]


def test_summary_reports_the_last_and_the_best_epochs_validation() -> None:
    cfg = classify_cfg(samples=40, epochs=50, patience=3, min_delta=0.01)
    b = build(cfg)
    b.evaluate = CraftedValidation([1.0, 0.8, 0.6, 0.595, 0.7, 0.65] + [0.9] * 50)
    trainer = Trainer(cfg, b)
    while not trainer.done:
        trainer.step()
    s = trainer.result().summary()
    assert (s["epochs"], s["best_epoch"], s["val_loss"], s["best_val_loss"]) == (6, 4, 0.65, 0.595)
    assert s["val_accuracy"] == s["best_val_accuracy"] == 0.5
    json.dumps(s, allow_nan=False)
    assert "val_accuracy" not in train(RunConfig(size=8, epochs=2)).summary()  # no validation


def test_plateau_schedule_cuts_lr_on_validation_loss() -> None:
    cfg = classify_cfg(samples=40, epochs=8, patience=0, schedule="plateau", step_size=1,
                       gamma=0.1)
    b = build(cfg)
    b.evaluate = CraftedValidation([1.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5])
    trainer = Trainer(cfg, b)
    while not trainer.done:
        trainer.step()
    cuts = [e for e in trainer.events if e[1] == "plateau"]
    assert cuts and cuts[0][2] == pytest.approx(0.001)
    assert trainer.lr < cfg.lr


def test_overfit_preset_overfits() -> None:
    cfg = classify_cfg(**PRESETS["overfit"])
    hist = train(cfg).history.dropna(subset=["val_loss"])
    best = hist["val_loss"].idxmin()
    assert hist.loc[best, "epoch"] < hist["epoch"].iloc[-1] - 10  # it turned upward long ago
    assert hist["val_loss"].iloc[-1] > 1.5 * hist["val_loss"].min()
    assert hist["train_accuracy"].iloc[-1] > hist["val_accuracy"].iloc[-1] + 0.2


def test_view_has_confusion_matrix_and_misclassified_sprites() -> None:
    trainer = Trainer(classify_cfg(samples=80, epochs=1))
    view = trainer.view()
    m = view["confusion"]
    assert m.shape == (4, 4) and m.sum() == 16
    wrong = m.sum() - np.trace(m)
    assert len(view["misclassified"]) == min(wrong, 12)
    assert trainer.image() is None


def test_line_fit_matches_closed_form_least_squares() -> None:
    cfg = RunConfig.from_dict({"task": "line", "normalize": True, "lr": 0.1, "epochs": 300})
    trainer = Trainer(cfg)
    while not trainer.done:
        trainer.step()
    view = trainer.view()
    slope, intercept = closed_form(house_points(cfg))
    assert view["slope"] == pytest.approx(slope, rel=1e-3)
    assert view["intercept"] == pytest.approx(intercept, rel=1e-3)


def test_unscaled_inputs_with_a_high_lr_diverge_and_scaling_fixes_it() -> None:
    raw = RunConfig.from_dict({"task": "line", "lr": 1e-3, "epochs": 100})
    assert train(raw).status == "diverged"
    assert train(raw.replace(normalize=True, lr=0.1)).status == "completed"


def test_custom_house_points() -> None:
    cfg = RunConfig.from_dict({"task": "line", "houses": "50:220,100:380,150:540,bad,200:700",
                               "normalize": True, "lr": 0.1, "epochs": 200})
    assert len(house_points(cfg)) == 4 and cfg.batches_per_epoch == 1
    view = Trainer(cfg).view()
    assert view["slope"] == 0 and view["closed_form"][0] == pytest.approx(3.18, rel=0.01)


def test_task_validation_and_defaults() -> None:
    cfg = RunConfig(task="classify")  # starts from the task's defaults, as from_dict does
    assert (cfg.model, cfg.loss, cfg.lr) == ("cnn", "ce", 0.01)
    assert RunConfig(task="classify", lr=0.001).lr == 0.001  # an explicit field wins
    with pytest.raises(ValueError, match="not allowed for task classify"):
        RunConfig(task="classify", loss="mse")  # the sprite loss does not apply
    with pytest.raises(ValueError, match="monitor"):
        RunConfig(monitor="accuracy")  # a sprite run has no validation accuracy
    with pytest.raises(ValueError, match="needs classes=2"):
        classify_cfg(loss="bce")
    cfg = classify_cfg(epochs=400)
    assert RunConfig.from_query(cfg.to_query()) == (cfg, [])


def test_cli_trains_a_classifier_with_validation_columns(tmp_path: Path) -> None:
    assert main(["train", "--set", "task=classify", "--set", "samples=100", "--set", "epochs=2",
                 "--out", str(tmp_path), "--quiet"]) == 0
    hist = pd.read_csv(tmp_path / "history.csv")
    assert {"val_loss", "val_accuracy"} <= set(hist.columns)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "completed" and 0 <= summary["val_accuracy"] <= 1
    assert summary["best_epoch"] in (1, 2) and summary["best_val_loss"] is not None
    confusion = (tmp_path / "confusion.csv").read_text().splitlines()
    assert confusion[0].startswith("truth") and len(confusion) == 5


def test_test_split_is_held_out_from_training_and_validation() -> None:
    cfg = classify_cfg(samples=100, val_split=0.2, test_split=0.1)
    assert split_sizes(cfg) == (70, 20, 10) and cfg.train_examples == 70
    x, y = make_dataset(cfg)
    train, val, test = split(cfg, x, y)
    assert [len(part[0]) for part in (train, val, test)] == [70, 20, 10]
    no_test = split(cfg.replace(test_split=0.0), x, y)
    assert torch.equal(no_test[1][0], val[0])  # adding a test split keeps the validation set
    assert len(no_test[2][0]) == 0


def test_early_stopping_can_watch_validation_accuracy() -> None:
    """monitor=accuracy: improvement means a higher validation accuracy, and the best checkpoint
    is the epoch with the highest one."""
    cfg = classify_cfg(samples=300, epochs=40, patience=3, min_delta=0.0, monitor="accuracy")
    trainer = Trainer(cfg)
    while not trainer.done:
        trainer.step()
    acc = trainer.result().history.dropna(subset=["val_accuracy"])["val_accuracy"].to_numpy()
    assert trainer.status == "early_stopped" and "validation accuracy" in trainer.reason
    best = acc.max()
    assert trainer.rules.best_accuracy == best > acc[0]  # it learned, and kept its best epoch
    assert trainer.best_epoch == int(np.argmax(acc)) + 1  # the first epoch that reached it
    assert len(acc) - trainer.best_epoch == cfg.patience  # then `patience` epochs not above it
