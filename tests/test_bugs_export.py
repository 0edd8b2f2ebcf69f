"""The exported train.py of a buggy run holds the bug as it ran, marked with a BUG comment, and
replays the app's buggy run exactly (every (bug, task) pair, plus LBFGS's closure)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from playground import RunConfig
from playground.bugs import BUGS, lab_pair
from playground.bugs.inject import patched
from playground.bugs.script import Edit, ScriptEditError
from playground.engine import Trainer
from playground.export import train_script
from playground.lessons.generate import target_array
from playground.warmup import configure_torch
from tests.test_export_lessons import ROOT, assert_replays, run_scripts

SMALL = {
    "generate": {"size": 8, "epochs": 6, "batch_size": 16},
    "classify": {"task": "classify", "samples": 60, "size": 8, "batch_size": 16, "epochs": 3,
                 "model": "mlp", "hidden": 16, "patience": 0},
    "line": {"task": "line", "samples": 30, "batch_size": 8, "epochs": 6},
}
CASES = {f"{name}-{task}": lab_pair(RunConfig(**SMALL[task]), name)[1]
         for name, bug in BUGS.items() for task in bug.tasks}
CASES["no_zero_grad-line-lbfgs"] = RunConfig(**SMALL["line"], optimizer="lbfgs", lr=0.1,
                                             bug="no_zero_grad", normalize=True)


@pytest.fixture(scope="module", autouse=True)
def app_torch() -> Iterator[None]:
    configure_torch()
    yield
    torch.set_flush_denormal(False)


def app_run(cfg: RunConfig) -> Trainer:
    trainer = Trainer(cfg)
    while not trainer.done:
        trainer.step()
    return trainer


def script_of(cfg: RunConfig) -> str:
    return train_script(cfg, target_array(cfg)) if cfg.task == "generate" else train_script(cfg)


@pytest.fixture(scope="module")
def replays(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    jobs = {name: (script_of(cfg), []) for name, cfg in CASES.items()}
    return run_scripts(tmp_path_factory.mktemp("bugs"), jobs)


@pytest.mark.parametrize("name", list(CASES))
def test_the_buggy_script_replays_the_buggy_run_exactly(replays: dict[str, Path], name: str) -> None:
    cfg = CASES[name]
    assert cfg.bug != "none"
    assert_replays(replays[name], app_run(cfg))


@pytest.mark.parametrize("name", list(CASES))
def test_the_script_marks_the_bug_and_keeps_the_correct_line_nowhere(name: str) -> None:
    cfg = CASES[name]
    script, clean = script_of(cfg), script_of(cfg.replace(**{"bug": "none", **BUGS[cfg.bug].fix}))
    assert f"# BUG ({cfg.bug}): " in script and "# BUG" not in clean
    added = set(script.splitlines()) - set(clean.splitlines())
    assert added and max(len(line) for line in added) <= 110  # the project's (and ruff's) limit
    for edit in BUGS[cfg.bug].edits(cfg):
        assert edit.old in clean
        assert (edit.old in script) == (edit.new is None or edit.after)


def test_the_buggy_runs_differ_from_the_correct_ones() -> None:
    """Each case really runs its bug: its losses or its gradient norms are not the correct run's
    (the loss accumulation keeps the same numbers; its own test counts the graph instead)."""
    for name, cfg in CASES.items():
        if cfg.bug == "loss_accumulation":
            continue
        fixed = cfg.replace(**{"bug": "none", **BUGS[cfg.bug].fix})
        buggy, correct = (app_run(c).result().history for c in (cfg, fixed))
        differs = [not buggy[c].equals(correct[c]) for c in ("loss", "grad_norm") if c in buggy]
        assert any(differs), name


def test_buggy_scripts_are_ruff_clean(replays: dict[str, Path]) -> None:
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (pip install -r requirements-dev.txt)")
    scripts = [str(folder / "train.py") for folder in replays.values()]
    done = subprocess.run([ruff, "check", "--no-cache", "--config", str(ROOT / "pyproject.toml"),
                           *scripts], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def test_an_edit_that_finds_nothing_is_an_error_not_a_silent_clean_script() -> None:
    cfg = RunConfig(bug="no_zero_grad")
    with pytest.raises(ScriptEditError, match="no line holding"):
        patched(cfg, "print('no loop here')")
    assert Edit("a", None, None).after is False
