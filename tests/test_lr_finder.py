"""The learning-rate range test: a known answer, NaN handling, and the user's run left alone."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from playground import RunConfig, train
from playground.cli import main
from playground.compare.lr_finder import lr_find, steepest, sweep_lrs, valley_lr
from playground.config import ConfigError
from playground.engine import Trainer

# Learnable pixels + SGD + MSE summed over the sprite is a quadratic: loss = sum((p - y)^2), so one
# step multiplies every pixel's error by (1 - 2 lr): lr = 0.5 lands in one step and lr > EDGE = 1
# diverges. A sane suggestion lies a decade or two below the edge.
SIZE = 8
EDGE = 1.0
QUADRATIC = RunConfig(model="pixels", optimizer="sgd", size=SIZE, epochs=20)



def test_quadratic_suggestion_lies_below_the_known_edge_and_trains_well() -> None:
    result = lr_find(QUADRATIC, start=1e-5, end=100.0, steps=150)
    assert result.stopped == "exploded"  # past lr = EDGE the loss grows every step
    assert result.frame["lr"].max() < 100.0
    assert EDGE / 100 <= result.suggestion <= EDGE
    assert EDGE / 100 <= result.steep <= EDGE
    assert result.suggestion == result.valley
    suggested = train(QUADRATIC.replace(lr=result.suggestion))
    timid = train(QUADRATIC.replace(lr=result.suggestion / 100))
    assert suggested.status == "completed"
    assert suggested.final_loss < 0.01 * timid.final_loss


def test_sweep_is_exponential_smoothed_and_starts_at_the_config_weights() -> None:
    result = lr_find(QUADRATIC, start=1e-4, end=1.0, steps=50)
    frame = result.frame
    assert list(frame.columns) == ["step", "lr", "loss", "smoothed"]
    assert len(frame) == 50 and result.stopped == "end"
    np.testing.assert_allclose(frame["lr"], sweep_lrs(1e-4, 1.0, 50))
    np.testing.assert_allclose(np.diff(np.log(frame["lr"])), math.log(1e4) / 49)
    assert frame["smoothed"].iloc[0] == frame["loss"].iloc[0]  # debiased: no pull toward zero
    assert frame["loss"].iloc[0] == pytest.approx(train(QUADRATIC.replace(epochs=1)).final_loss)


def test_non_finite_losses_stop_the_sweep_and_are_left_out() -> None:
    result = lr_find(QUADRATIC, start=1e-3, end=1e30, steps=150, diverge_factor=math.inf)
    assert result.stopped == "non-finite"
    assert 10 < len(result.frame) < 150
    assert np.isfinite(result.frame[["lr", "loss", "smoothed"]].to_numpy()).all()
    assert result.suggestion is not None and 1e-6 <= result.suggestion <= 1000  # a valid config lr


def test_the_users_run_is_untouched() -> None:
    cfg = QUADRATIC.replace(optimizer="adam", lr=0.01)
    trainer, twin = Trainer(cfg), Trainer(cfg)
    for _ in range(5):
        trainer.step()
        twin.step()
    weights = {k: v.clone() for k, v in trainer.b.model.state_dict().items()}
    x, y = trainer.b.loader.inputs, trainer.b.loader.targets
    with torch.no_grad():
        current = trainer.b.criterion(trainer.b.model(x), y).item()
    result = lr_find(cfg, state=trainer.b.model.state_dict(), steps=30)
    assert result.frame["loss"].iloc[0] == pytest.approx(current, rel=1e-6)  # it began from a copy
    for k, v in trainer.b.model.state_dict().items():
        assert torch.equal(v, weights[k])
    mine, theirs = trainer.step()[:6], twin.step()[:6]  # all but the seconds column
    assert mine == pytest.approx(theirs, nan_ok=True)  # the optimizer state is intact too


def test_suggestions_on_a_synthetic_curve() -> None:
    lr = np.geomspace(1e-5, 1.0, 101)
    x = np.log10(lr)  # -5 .. 0; the loss falls around 1e-3 and blows up past 0.1
    smoothed = 1 / (1 + np.exp(4 * (x + 3))) + 0.05 + np.where(x > -1, 30 * (x + 1) ** 2, 0.0)
    frame = pd.DataFrame({"step": range(1, 102), "lr": lr, "loss": smoothed, "smoothed": smoothed})
    assert steepest(frame) == pytest.approx(1e-3, rel=0.3)
    valley = valley_lr(frame)
    assert 1e-3 < valley < 1e-1  # past the steepest point, before the blow-up
    flat = frame.assign(smoothed=1.0)
    assert steepest(flat) is None and valley_lr(flat) is None


def test_bad_arguments_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="start < end"):
        lr_find(QUADRATIC, start=1.0, end=0.1)
    with pytest.raises(ConfigError, match="steps"):
        lr_find(QUADRATIC, steps=2)


def test_cli_lr_find_prints_the_suggestion_and_writes_csv(tmp_path: Path, capsys) -> None:
    code = main(["lr-find", "--set", "model=pixels", "--set", "optimizer=sgd", "--set",
                 f"size={SIZE}", "--end", "1e4", "--out", str(tmp_path)])
    assert code == 0
    out = capsys.readouterr().out
    assert "suggested lr:" in out and f"your lr {RunConfig().lr:g}" in out
    frame = pd.read_csv(tmp_path / "lr_find.csv")
    assert list(frame.columns) == ["step", "lr", "loss", "smoothed"] and len(frame) > 20
    assert main(["lr-find", "--set", "lr=-1", "--out", str(tmp_path)]) == 2
