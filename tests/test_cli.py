"""The command line: what a user runs and what it writes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from playground.cli import main
from playground.config import RunConfig

ROOT = Path(__file__).resolve().parents[1]


def test_sprites_lists_the_gallery(capsys) -> None:
    assert main(["sprites"]) == 0
    out = capsys.readouterr().out
    assert "heart" in out and "16x16" in out and len(out.splitlines()) >= 16


def test_train_writes_every_artifact(tmp_path: Path) -> None:
    out = tmp_path / "run"
    code = main(["train", "--set", "sprite=heart", "--set", "model=mlp", "--set", "optimizer=adam",
                 "--set", "lr=0.01", "--set", "epochs=30", "--out", str(out), "--quiet"])
    assert code == 0
    cfg = RunConfig.from_json((out / "config.json").read_text())
    assert cfg.epochs == 30 and cfg.optimizer == "adam"
    hist = pd.read_csv(out / "history.csv")
    assert {"step", "epoch", "loss", "lr", "grad_norm", "seconds"} <= set(hist.columns)
    assert len(hist) == 30
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["steps"] == 30
    assert summary["diverged_at"] is None and summary["steps_per_second"] > 0
    assert summary["final_loss"] == pytest.approx(hist["loss"].iloc[-1])
    for name in ("target.png", "final.png"):
        assert Image.open(out / name).size == (16, 16)
    assert Image.open(out / "preview.png").size[0] > 16
    assert "optimizer.step()" in (out / "train.py").read_text()
    for name in ("initial.pt", "final.pt"):
        ckpt = torch.load(out / name, weights_only=True)
        assert {"model", "optimizer", "config"} <= set(ckpt)  # the seed scripts' keys
        assert RunConfig.from_dict(ckpt["config"]) == cfg
    initial = torch.load(out / "initial.pt", weights_only=True)["model"]
    final = torch.load(out / "final.pt", weights_only=True)["model"]
    assert any(not torch.equal(initial[k], final[k]) for k in initial)


def test_config_file_reruns_the_same_run(tmp_path: Path) -> None:
    main(["train", "--set", "epochs=20", "--set", "model=coord", "--out", str(tmp_path / "a"),
          "--quiet"])
    main(["train", "--config", str(tmp_path / "a" / "config.json"), "--out", str(tmp_path / "b"),
          "--quiet"])
    a = pd.read_csv(tmp_path / "a" / "history.csv")["loss"]
    b = pd.read_csv(tmp_path / "b" / "history.csv")["loss"]
    assert a.tolist() == b.tolist()


@pytest.mark.parametrize(("setting", "message"), [
    ("optimizer=adamz", "optimizer: 'adamz' is not allowed; expected one of sgd"),
    ("lr=-1", "lr: -1.0 is not allowed; expected 1e-06 to 1000"),
    ("lr=nan", "lr: nan is not allowed"),
    ("size=100000", "size: 100000 is not allowed; expected 4 to 64"),
    ("learning_rate=0.1", "unknown setting 'learning_rate'"),
])
def test_bad_config_exits_2_with_one_clear_line(tmp_path: Path, capsys, setting: str,
                                                message: str) -> None:
    assert main(["train", "--set", setting, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: " + message)
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "history.csv").exists()


def test_divergence_exits_0_with_status_diverged(tmp_path: Path) -> None:
    code = main(["train", "--set", "model=mlp", "--set", "optimizer=sgd", "--set", "lr=1000",
                 "--set", "epochs=200", "--out", str(tmp_path), "--quiet"])
    assert code == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "diverged" and summary["diverged_at"] >= 1
    hist = pd.read_csv(tmp_path / "history.csv")
    assert np.isfinite(hist["loss"]).all()


def test_image_and_url_options(tmp_path: Path) -> None:
    img = np.zeros((24, 24, 4), np.uint8)
    img[4:20, 4:20] = (30, 60, 200, 255)
    Image.fromarray(img).save(tmp_path / "me.png")
    assert main(["train", "--image", str(tmp_path / "me.png"), "--set", "epochs=5",
                 "--out", str(tmp_path / "img"), "--quiet"]) == 0
    cfg = RunConfig.from_json((tmp_path / "img" / "config.json").read_text())
    assert cfg.sprite == "custom"
    url = "http://localhost:8501/?" + "&".join(f"{k}={v}" for k, v in
                                               RunConfig(optimizer="sgd", epochs=4).to_query().items())
    assert main(["train", "--url", url, "--out", str(tmp_path / "url"), "--quiet"]) == 0
    cfg = RunConfig.from_json((tmp_path / "url" / "config.json").read_text())
    assert cfg.optimizer == "sgd" and cfg.epochs == 4


def test_bad_image_exits_2(tmp_path: Path, capsys) -> None:
    (tmp_path / "x.png").write_text("not an image")
    assert main(["train", "--image", str(tmp_path / "x.png"), "--out", str(tmp_path)]) == 2
    assert "error:" in capsys.readouterr().err


def test_module_entry_point_runs(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "playground", "train", "--set", "epochs=3",
                           "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "completed" in proc.stderr and "step" in proc.stderr  # progress bar and summary
