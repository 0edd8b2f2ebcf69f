"""The course's checkpoint workflow from the command line: best.pt and final.pt beside each other,
`resume` carrying a run on exactly, TensorBoard events written while training, and the pictures
(training_history.png, forming.gif) a run folder holds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from playground import RunConfig
from playground.checkpoints import CheckpointError, load, resume
from playground.cli import main
from playground.engine import Trainer
from playground.export.tensorboard import KEEP

SPRITE = ["--set", "size=8", "--set", "epochs=60", "--set", "model=mlp"]
CLASSIFY = ["--set", "task=classify", "--set", "samples=160", "--set", "epochs=8",
            "--set", "schedule=plateau", "--set", "step_size=1", "--set", "patience=0"]


def run(*args: str) -> int:
    return main([*args, "--quiet"])


def history(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "history.csv")


@pytest.mark.parametrize("flags,cut", [(SPRITE, 25), (CLASSIFY, 13)], ids=["sprite", "classify"])
def test_a_stopped_run_resumed_takes_exactly_the_steps_it_would_have(
        tmp_path: Path, flags: list[str], cut: int) -> None:
    whole, part = tmp_path / "whole", tmp_path / "part"
    assert run("train", *flags, "--out", str(whole)) == 0
    assert run("train", *flags, "--out", str(part), "--steps", str(cut)) == 0  # mid-epoch for classify
    assert len(history(part)) == cut and load(part / "final.pt")["status"] == "stopped"
    assert run("resume", str(part)) == 0
    a, b = history(whole), history(part)
    pd.testing.assert_frame_equal(a.drop(columns="seconds"), b.drop(columns="seconds"))
    wa, wb = load(whole / "final.pt")["model"], load(part / "final.pt")["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_a_finished_run_goes_on_with_more_epochs_and_refuses_without(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture) -> None:
    assert run("train", *SPRITE, "--out", str(tmp_path)) == 0
    assert run("resume", str(tmp_path)) == 2
    assert "give more epochs" in capsys.readouterr().err
    assert run("resume", str(tmp_path), "--epochs", "80", "--out", str(tmp_path / "more")) == 0
    more = history(tmp_path / "more")
    assert len(more) == 80 and more["step"].tolist() == list(range(1, 81))
    pd.testing.assert_frame_equal(more.iloc[:60].drop(columns="seconds"),
                                  history(tmp_path).drop(columns="seconds"))


def test_best_pt_holds_the_best_validation_epoch_with_its_optimizer_and_metrics(tmp_path: Path) -> None:
    flags = ["--set", "task=classify", "--set", "samples=100", "--set", "classes=2",
             "--set", "val_split=0.5", "--set", "epochs=30", "--set", "patience=0",
             "--set", "lr=0.003"]  # small data, many epochs: the validation loss turns and climbs
    assert run("train", *flags, "--out", str(tmp_path)) == 0
    best = torch.load(tmp_path / "best.pt", weights_only=True)  # plain data: safe to load
    final = load(tmp_path / "final.pt")
    hist = history(tmp_path).dropna(subset=["val_loss"])
    epoch = int(hist.loc[hist["val_loss"].idxmin(), "epoch"])
    assert best["best"]["epoch"] == epoch < 30 and best["best"]["loss"] == pytest.approx(
        hist["val_loss"].min())
    assert best["optimizer"] is not None and best["history"]["values"].shape[0] == len(history(tmp_path))
    cfg = RunConfig.from_dict(best["config"])
    trainer = Trainer(cfg)
    trainer.b.model.load_state_dict(best["model"])
    assert trainer.b.evaluate(trainer.b.model)["val_loss"] == pytest.approx(hist["val_loss"].min())
    assert any(not torch.equal(best["model"][k], final["model"][k]) for k in best["model"])


def test_resume_refuses_what_it_cannot_carry_on(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert run("train", *SPRITE, "--out", str(tmp_path), "--steps", "5") == 0
    with pytest.raises(CheckpointError, match="best.pt holds weights"):
        resume(load(tmp_path / "best.pt"))
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    assert run("resume", str(tmp_path / "junk.pt")) == 2
    assert "not a checkpoint this playground can read safely" in capsys.readouterr().err
    assert run("resume", str(tmp_path / "missing")) == 2
    assert "no checkpoint at" in capsys.readouterr().err
    diverged = tmp_path / "diverged"
    assert run("train", "--set", "optimizer=sgd", "--set", "lr=1000", "--set", "model=pixels",
               "--set", "size=8", "--set", "epochs=50", "--out", str(diverged)) == 0
    assert run("resume", str(diverged), "--epochs", "100") == 2
    assert "ended diverged" in capsys.readouterr().err


def test_tensorboard_events_are_written_live_with_validation_metrics(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    assert run("train", *CLASSIFY, "--out", str(tmp_path / "run"), "--tensorboard",
               str(tmp_path / "tb")) == 0
    acc = EventAccumulator(str(tmp_path / "tb"))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"loss/train_step", "lr", "loss/validation", "accuracy/validation",
            "accuracy/train", "loss/train_epoch"} <= tags
    hist = history(tmp_path / "run").dropna(subset=["val_loss"])
    val = acc.Scalars("accuracy/validation")
    assert [e.step for e in val] == hist["step"].tolist()
    np.testing.assert_allclose([e.value for e in val], hist["val_accuracy"], rtol=1e-6)


def test_tensorboard_thins_a_long_run_to_what_it_keeps(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    assert run("train", "--set", "size=4", "--set", "model=pixels", "--set", "epochs=5000",
               "--out", str(tmp_path / "run"), "--tensorboard", str(tmp_path / "tb")) == 0
    acc = EventAccumulator(str(tmp_path / "tb"), size_guidance={"scalars": 0})  # 0: keep all
    acc.Reload()
    steps = [e.step for e in acc.Scalars("loss/train_step")]
    assert KEEP // 2 <= len(steps) <= KEEP + 2 and steps[0] == 1 and steps[-1] == 5000


def test_a_run_folder_has_the_history_plot_and_the_forming_gif(tmp_path: Path) -> None:
    assert run("train", *SPRITE, "--out", str(tmp_path)) == 0
    plot = Image.open(tmp_path / "training_history.png")
    assert plot.format == "PNG" and plot.width >= 1000 and plot.height >= 500
    colours = np.asarray(plot.convert("RGB")).reshape(-1, 3)
    assert len(np.unique(colours, axis=0)) > 20  # drawn charts, not a blank sheet
    gif = Image.open(tmp_path / "forming.gif")
    assert gif.n_frames >= 10  # the sprite forming at log-spaced steps, from step 0


def test_device_names_resolve_or_say_what_the_machine_lacks() -> None:
    from playground.devices import resolve

    assert resolve("cpu").type == "cpu"
    assert resolve("auto").type in ("cuda", "mps", "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="this machine has no cuda device"):
            resolve("cuda")
    with pytest.raises(ValueError, match="expected one of auto, cpu, cuda, mps"):
        resolve("tpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (the device tool lends one)")
@pytest.mark.parametrize("task", ["generate", "classify", "line"])
def test_a_run_on_the_gpu_learns_as_on_the_cpu(task: str) -> None:
    cfg = RunConfig(task=task, epochs=5, size=8, samples=80)
    cpu, gpu = Trainer(cfg), Trainer(cfg, device="cuda")
    assert next(gpu.b.model.parameters()).is_cuda
    for _ in range(cfg.total_steps):
        a, b = cpu.step(), gpu.step()
        assert b.loss == pytest.approx(a.loss, rel=1e-3, abs=1e-5)
    assert gpu.view().keys() == cpu.view().keys()
