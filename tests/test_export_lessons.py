"""train.py of the classify and line lessons replays the app's run bit for bit (losses, validation
metrics, plateau, early stopping, best checkpoint); every train.py takes --config; lines and the
tqdm bar never garble each other."""

from __future__ import annotations

import csv
import fcntl
import json
import os
import pty
import select
import shutil
import struct
import subprocess
import sys
import termios
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from playground import RunConfig
from playground.engine import Trainer
from playground.export import config_json, train_script
from playground.export.script_helpers import overridden
from playground.lessons.generate import target_array
from playground.warmup import configure_torch

ROOT = Path(__file__).resolve().parents[1]
CLASSIFY = {"task": "classify", "samples": 60, "size": 8, "batch_size": 16, "epochs": 4,
            "test_split": 0.15}
LINE = {"task": "line", "samples": 30, "batch_size": 8, "epochs": 12}
CASES: dict[str, dict] = {
    "classify-mlp-dropout": {**CLASSIFY, "model": "mlp", "hidden": 16, "dropout": 0.3, "patience": 0},
    "classify-cnn-plateau": {**CLASSIFY, "model": "cnn", "hidden": 16, "schedule": "plateau",
                             "step_size": 1, "gamma": 0.5, "patience": 0, "epochs": 6},
    "classify-early-accuracy": {**CLASSIFY, "model": "logreg", "monitor": "accuracy", "patience": 2,
                                "optimizer": "sgd", "lr": 0.05, "epochs": 30},
    "classify-early-loss-bce-clip": {**CLASSIFY, "model": "mlp", "hidden": 16, "classes": 2,
                                     "loss": "bce", "lr": 0.05, "patience": 2, "min_delta": 0.05,
                                     "clip_grad_norm": 0.5, "epochs": 30},
    "line-normalized": {**LINE, "normalize": True, "optimizer": "sgd", "lr": 0.1,
                        "schedule": "cosine", "patience": 3, "min_delta": 1e-4},
    "line-raw-diverges": {**LINE, "normalize": False, "optimizer": "sgd", "lr": 1e-4},
}

DRIVER = '''
import contextlib, io, json, os, runpy, sys
sys.modules["playground"] = None  # the scripts must not need the app
sys.modules["tqdm"] = None  # plain lines: the tqdm tests below run the scripts on their own
for folder, args in json.loads(sys.argv[1]):
    os.chdir(folder)
    sys.argv = ["train.py", *args]
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            runpy.run_path("train.py", run_name="__main__")
    except SystemExit as exc:  # --config refused: the one line a user would see
        with open("exit.txt", "w") as f:
            f.write(str(exc.code))
    with open("stdout.txt", "w") as f:
        f.write(out.getvalue())
'''


@pytest.fixture(scope="module", autouse=True)
def app_torch() -> Iterator[None]:
    """Train as the app and the CLI do (one thread, no subnormal floats), the script's own setup."""
    configure_torch()
    yield
    torch.set_flush_denormal(False)


def app_run(kw: dict) -> Trainer:
    """The app's run of these settings, to its end."""
    trainer = Trainer(RunConfig(**kw))
    while not trainer.done:
        trainer.step()
    return trainer


def run_scripts(root: Path, jobs: dict[str, tuple[str, list[str]]]) -> dict[str, Path]:
    """Run each (script, args) in its own folder, all in one isolated Python process."""
    folders = {}
    for name, (code, _) in jobs.items():
        folder = root / name
        folder.mkdir(parents=True)
        (folder / "train.py").write_text(code)
        folders[name] = folder
    (root / "driver.py").write_text(DRIVER)
    payload = json.dumps([[str(folders[n]), args] for n, (_, args) in jobs.items()])
    done = subprocess.run([sys.executable, "-I", str(root / "driver.py"), payload], cwd=root,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return folders


@pytest.fixture(scope="module")
def replays(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every case's train.py, run as generated."""
    jobs = {name: (train_script(RunConfig(**kw)), []) for name, kw in CASES.items()}
    return run_scripts(tmp_path_factory.mktemp("lessons"), jobs)


def read_csv(path: Path) -> dict[str, list[float]]:
    """A CSV's columns as exact floats."""
    with path.open() as f:
        rows = list(csv.DictReader(f))
    return {key: [float(r[key]) for r in rows] for key in rows[0]}


def assert_replays(folder: Path, trainer: Trainer) -> None:
    """Every step's loss and lr, and every epoch's metrics, exactly the app's."""
    app = trainer.result().history
    got = read_csv(folder / "losses.csv")
    assert len(got["step"]) == len(app) > 0
    for column in ("step", "epoch", "loss", "lr"):
        assert got[column] == app[column].tolist(), column
    if trainer.b.evaluate is None:
        return
    epochs = app.dropna(subset=["val_loss"])
    metrics = read_csv(folder / "metrics.csv")
    for column in ("epoch", "step", "epoch_loss", "train_accuracy", "val_loss", "val_accuracy",
                   "bad_epochs"):
        assert metrics[column] == epochs[column].tolist(), column


@pytest.mark.parametrize("name", list(CASES))
def test_lesson_script_replays_the_apps_run_bit_for_bit(replays: dict[str, Path], name: str) -> None:
    trainer = app_run(CASES[name])
    assert_replays(replays[name], trainer)
    last = (replays[name] / "stdout.txt").read_text().strip().splitlines()[-1]
    assert last.startswith(trainer.status.replace("_", " ")), last
    assert f": {trainer.step_count} steps" in last
    if trainer.best_epoch is not None:
        assert f"best epoch {trainer.best_epoch};" in last
    best = torch.load(replays[name] / "best_model.pth", weights_only=True)
    if trainer.best_params is not None:  # the best checkpoint: the weights the app kept
        expected = trainer.result().best_state
        assert best.keys() == expected.keys()
        for key, value in expected.items():
            assert torch.equal(best[key], value), key


def test_the_cases_exercise_what_they_claim(replays: dict[str, Path]) -> None:
    """Dropout masks differ from eval mode, the plateau cuts the LR, runs end as named."""
    dropout = app_run(CASES["classify-mlp-dropout"])
    assert any(isinstance(m, torch.nn.Dropout) and m.p > 0 for m in dropout.b.model.modules())
    assert len(set(read_csv(replays["classify-cnn-plateau"] / "losses.csv")["lr"])) > 1
    accuracy = app_run(CASES["classify-early-accuracy"])
    assert accuracy.status == "early_stopped" and "accuracy" in accuracy.reason
    assert 1 <= accuracy.best_epoch < accuracy.epoch
    loss = app_run(CASES["classify-early-loss-bce-clip"])
    assert loss.status == "early_stopped" and loss.best_epoch <= loss.epoch < 30  # (min_delta:
    # the last epoch may be a new best, yet improve by less than min_delta and count as bad)
    assert (loss.result().history["grad_norm"] > 0.5).any()
    line = app_run(CASES["line-normalized"])
    assert len(line.b.loader) > 1 and line.result().history["lr"].nunique() > 1  # shuffled, cosine
    assert app_run(CASES["line-raw-diverges"]).status == "diverged"


# --config -------------------------------------------------------------------------------------
def test_config_files_override_settings_and_refuse_bad_keys(tmp_path: Path) -> None:
    line = RunConfig(**CASES["line-normalized"])
    changed = {"lr": 0.05, "epochs": 3, "normalize": False}
    files = {"changes.json": json.dumps(changed), "app.json": config_json(line).decode(),
             "typo.json": json.dumps({"lrr": 0.1}), "fixed.json": json.dumps({"optimizer": "adam"}),
             "type.json": json.dumps({"epochs": "many"}), "list.json": "[1, 2]"}
    if _has_yaml():
        files["changes.yaml"] = "lr: 0.05\nepochs: 3\nnormalize: false\n"
    code = train_script(line)
    jobs = {}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        jobs[name.replace(".", "-")] = (code, ["--config", str(tmp_path / name)])
    jobs["sprite-steps"] = (train_script(RunConfig(size=8, epochs=5), target_array(RunConfig(size=8))),
                            ["--config", str(tmp_path / "sprite.json"), "--steps", "2"])
    (tmp_path / "sprite.json").write_text(json.dumps({"lr": 0.01, "pace": 0}))
    out = run_scripts(tmp_path / "runs", jobs)

    assert_replays(out["changes-json"], app_run({**CASES["line-normalized"], **changed}))
    if _has_yaml():
        assert_replays(out["changes-yaml"], app_run({**CASES["line-normalized"], **changed}))
    assert_replays(out["app-json"], app_run(CASES["line-normalized"]))  # the app's own file
    sprite = read_csv(out["sprite-steps"] / "losses.csv")
    assert sprite["step"] == [1.0, 2.0] and sprite["lr"] == [0.01, 0.01]
    for name, words in {"typo-json": ["unknown setting 'lrr'"],
                        "fixed-json": ["optimizer is fixed", "'sgd'"],
                        "type-json": ["epochs='many'", "int"], "list-json": ["expected flat"]}.items():
        message = (out[name] / "exit.txt").read_text()
        assert "\n" not in message.strip() and all(w in message for w in words), message
        assert not (out[name] / "losses.csv").exists()


def test_overridden_keeps_types_and_lets_a_file_repeat_baked_in_settings() -> None:
    config = {"lr": 0.1, "epochs": 3, "betas": (0.9, 0.999), "normalize": False}
    fixed = {"optimizer": "adam", "momentum": 0.0}
    got = overridden(config, fixed, ("pace",), {"lr": 1, "betas": [0.8, 0.9], "optimizer": "adam",
                                                 "momentum": 0, "pace": 5}, "f.json")
    assert got == {"lr": 1.0, "epochs": 3, "betas": (0.8, 0.9), "normalize": False}
    assert isinstance(got["lr"], float)
    with pytest.raises(SystemExit, match="normalize=1 should be a bool"):
        overridden(config, fixed, (), {"normalize": 1}, "f.json")


def _has_yaml() -> bool:
    try:
        import yaml  # noqa: F401
    except ImportError:
        return False
    return True


# tqdm -----------------------------------------------------------------------------------------
def script_folder(tmp_path: Path, cfg: RunConfig) -> Path:
    """A folder holding this run's train.py."""
    target = target_array(cfg) if cfg.task == "generate" else None
    (tmp_path / "train.py").write_text(train_script(cfg, target))
    return tmp_path


@pytest.mark.parametrize("cfg", [RunConfig(**{**CASES["line-normalized"], "epochs": 4}),
                                 RunConfig(size=8, epochs=30)], ids=["line", "sprite"])
def test_piped_output_has_whole_lines_and_no_bar_fragments(tmp_path: Path, cfg: RunConfig) -> None:
    pytest.importorskip("tqdm")
    folder = script_folder(tmp_path, cfg)
    done = subprocess.run([sys.executable, "train.py", "--print-every", "1"], cwd=folder,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:]
    lines = done.stdout.splitlines()
    assert sum(line.startswith("step ") for line in lines) >= 4
    assert "\r" not in done.stdout and "%|" not in done.stdout, done.stdout[:500]


def test_on_a_terminal_the_bar_never_splits_a_printed_line(tmp_path: Path) -> None:
    """stdout and stderr on one terminal: tqdm draws, and every printed line starts cleanly."""
    pytest.importorskip("tqdm")
    folder = script_folder(tmp_path, RunConfig(**{**CASES["classify-mlp-dropout"], "epochs": 3}))
    raw = run_on_terminal([sys.executable, "train.py", "--print-every", "1"], folder)
    assert "%|" in raw, "tqdm drew no bar on the terminal"
    shown = [line.split("\r")[-1] for line in raw.replace("\r\n", "\n").split("\n")]
    printed = [line for line in shown if "loss" in line]
    assert len(printed) >= 6
    assert all(line.startswith(("step ", "epoch ", "completed")) for line in printed), printed


def run_on_terminal(argv: list[str], cwd: Path, timeout: float = 120.0) -> str:
    """Everything a command writes to an 80-column pseudo-terminal (stdout and stderr both)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave,
                            env={**os.environ, "TERM": "xterm"})
    os.close(slave)
    chunks = []
    try:
        while True:
            ready, _, _ = select.select([master], [], [], timeout)
            assert ready, "the script went quiet on the terminal"
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the script exited and closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(master)
        rc = proc.wait(timeout=timeout)
    assert rc == 0, b"".join(chunks)[-2000:]
    return b"".join(chunks).decode("utf-8", "replace")


def test_lesson_scripts_are_ruff_clean(tmp_path: Path) -> None:
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (pip install -r requirements-dev.txt)")
    for name, kw in CASES.items():
        code = train_script(RunConfig(**kw))
        assert "$" not in code, f"a placeholder left in {name}"
        (tmp_path / f"{name.replace('-', '_')}.py").write_text(code)
    done = subprocess.run([ruff, "check", "--no-cache", "--config", str(ROOT / "pyproject.toml"),
                           str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def test_the_cli_writes_train_py_for_a_lesson_run(tmp_path: Path) -> None:
    from playground.cli import write_run

    trainer = app_run({**CASES["line-normalized"], "epochs": 2})
    write_run(tmp_path, trainer.result(), trainer)
    code = (tmp_path / "train.py").read_text()
    assert code == train_script(trainer.cfg) and "class Trainer:" in code
