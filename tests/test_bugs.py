"""The bug lab: every mistake runs as its sentence says, measured against the correct loop raced
from identical weights; the correct side is the normal Trainer bit for bit; configs refuse a bug
their task cannot show in one sentence; the CLI's --bug is --set bug=NAME."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from playground import RunConfig
from playground.bugs import BUGS, bugs_for, lab_pair, problem
from playground.bugs.effects import AccumulatedLoss, evaluating, retained_nodes
from playground.bugs.lab import BugRace, retained, summary
from playground.cli import main
from playground.config import ConfigError
from playground.engine import Trainer
from playground.tasks import TASKS
from playground.warmup import configure_torch

CLASSIFY = {"task": "classify", "model": "mlp", "hidden": 32, "epochs": 6, "patience": 0}
LAB = {  # the user's settings each bug is raced on (the bug's own setup is applied on top)
    "no_zero_grad": CLASSIFY,
    "no_eval": CLASSIFY,
    "sigmoid_bce": CLASSIFY,
    "softmax_ce": CLASSIFY,
    "unshuffled": CLASSIFY,
    "unnormalized": {"task": "line"},
    "loss_accumulation": {**CLASSIFY, "epochs": 2},
}


@pytest.fixture(scope="module", autouse=True)
def app_torch() -> Iterator[None]:
    configure_torch()
    yield
    torch.set_flush_denormal(False)


_RACES: dict[str, BugRace] = {}


def raced(name: str) -> BugRace:
    """The bug's race to its end (run once per module)."""
    if name not in _RACES:
        contest = BugRace(RunConfig(**LAB[name]), name)
        while not contest.done:
            contest.step()
        _RACES[name] = contest
    return _RACES[name]


def history(trainer: Trainer) -> dict[str, np.ndarray]:
    frame = trainer.result().history
    return {c: frame[c].to_numpy() for c in frame.columns}


def epoch_slices(h: dict[str, np.ndarray]) -> list[np.ndarray]:
    return [np.flatnonzero(h["epoch"] == e) for e in np.unique(h["epoch"])]


def test_every_task_offers_bugs_and_every_bug_runs_on_each_of_its_tasks() -> None:
    assert set(LAB) == set(BUGS)
    for task in TASKS:  # the paths lesson (a point on a surface) has none: the page says so
        assert bool(bugs_for(task)) == (task != "paths"), task
    for name, bug in BUGS.items():
        assert bug.title and bug.wrong != bug.right and bug.watch.endswith(".")
        assert bug.watch.count(". ") == 0, "one sentence"
        for task in bug.tasks:
            correct, buggy = lab_pair(RunConfig(task=task), name)
            assert buggy.bug == name and correct.bug == "none"
            assert problem(buggy) is None


@pytest.mark.parametrize(("kw", "message"), [
    ({"bug": "no_eval"}, "bug: 'no_eval' is not a mistake of task generate; it applies to classify"),
    ({"task": "classify", "bug": "no_eval"}, "bug: 'no_eval' shows only with dropout"),
    ({"task": "classify", "model": "logreg", "bug": "no_eval", "dropout": 0.5},
     "bug: 'no_eval' needs a model with dropout"),
    ({"bug": "sigmoid_bce"}, "bug: 'sigmoid_bce' needs loss=bce (got mse)"),
    ({"task": "line", "bug": "unnormalized", "normalize": True}, "bug: 'unnormalized' is the line"),
    ({"bug": "loss_accumulation", "optimizer": "lbfgs"}, "bug: 'loss_accumulation' needs an "),
    ({"bug": "typo"}, "bug: 'typo' is not allowed; expected one of none, no_zero_grad"),
])
def test_a_bug_its_config_cannot_show_is_refused_in_one_sentence(kw: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        RunConfig(**kw)
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_share_links_carry_the_bug_and_drop_one_that_does_not_fit() -> None:
    cfg = RunConfig(task="classify", bug="unshuffled")
    assert cfg.to_query()["bug"] == "unshuffled"
    assert RunConfig.from_query(cfg.to_query())[0] == cfg
    back, problems = RunConfig.from_query({"task": "line", "bug": "softmax_ce"})
    assert back.task == "line" and back.bug == "none" and "softmax_ce" in problems[-1]


@pytest.mark.parametrize("name", list(BUGS))
def test_both_sides_start_from_identical_weights(name: str) -> None:
    contest = BugRace(RunConfig(**LAB[name]), name)
    a, b = (t.b.model.state_dict() for t in contest.trainers)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("name", list(BUGS))
def test_the_correct_side_is_the_normal_trainer_bit_for_bit(name: str) -> None:
    contest = raced(name)
    correct = contest.configs[0]
    assert correct.bug == "none" and contest.configs[1].bug == name
    normal = Trainer(correct)
    while not normal.done:
        normal.step()
    got, want = history(contest.trainers[0]), history(normal)
    for column in ("step", "epoch", "loss", "lr", "grad_norm", *TASKS[correct.task].columns[7:]):
        assert np.array_equal(got[column], want[column], equal_nan=True), column


# What each sentence says, measured ------------------------------------------------------------
def check_no_zero_grad(contest: BugRace) -> None:
    """The gradient norm grows with the batch index within an epoch (and far past the correct's)."""
    ok, bug = (history(t) for t in contest.trainers)
    first = epoch_slices(bug)[0]
    norms = bug["grad_norm"][first]
    assert len(norms) >= 8 and np.corrcoef(np.arange(len(norms)), norms)[0, 1] > 0.95
    assert norms[-1] > 3 * ok["grad_norm"][first][-1]
    assert np.corrcoef(np.arange(len(norms)), ok["grad_norm"][first])[0, 1] < 0.9


def check_no_eval(contest: BugRace) -> None:
    """Validation with dropout on: two evaluations of the same weights differ, and it reads higher
    than the same weights in eval mode; the correct side's validation repeats exactly."""
    ok, bug = contest.trainers
    assert ok.b.evaluate(ok.b.model) == ok.b.evaluate(ok.b.model)
    noisy = [bug.b.evaluate(bug.b.model)["val_loss"] for _ in range(5)]
    assert len(set(noisy)) == 5
    twin = Trainer(contest.configs[0])  # validates properly; given the buggy side's weights
    twin.b.model.load_state_dict(bug.b.model.state_dict())
    assert twin.b.evaluate(twin.b.model)["val_loss"] < min(noisy)
    curves = [history(t)["val_loss"] for t in contest.trainers]
    assert np.nanmean(curves[1]) > np.nanmean(curves[0]) + 0.1


def check_sigmoid_bce(contest: BugRace) -> None:
    """The loss never gets below BCE's floor on logits in (0, 1), and the gradients are tiny."""
    ok, bug = (history(t) for t in contest.trainers)
    floor = math.log1p(math.exp(-1))  # the least loss of a positive example given logit 1
    assert bug["loss"].min() >= floor and ok["loss"][-1] < floor / 3
    assert np.nanmean(bug["grad_norm"]) < np.nanmean(ok["grad_norm"]) / 10


def check_softmax_ce(contest: BugRace) -> None:
    """Cross-entropy of scores in (0, 1) cannot go below log(1 + (K-1)/e)."""
    ok, bug = (history(t) for t in contest.trainers)
    k = contest.configs[1].classes
    floor = math.log1p((k - 1) / math.e)
    assert bug["loss"].min() >= floor - 1e-6 and ok["loss"][-1] < floor / 3


def check_unshuffled(contest: BugRace) -> None:
    """The loss falls within each class's block of batches and leaps where the class changes
    (the same order every epoch), and validation accuracy lags."""
    ok, bug = (history(t) for t in contest.trainers)
    major = [int(torch.bincount(y).argmax()) for _, y in contest.trainers[1].b.loader]
    blocks = np.array(major * len(epoch_slices(bug)))
    assert len(set(major)) == contest.configs[1].classes and len(blocks) == len(bug["loss"])
    changes = np.r_[False, blocks[1:] != blocks[:-1]]
    steps = np.diff(bug["loss"], prepend=np.nan)
    assert np.nanmean(steps[~changes]) < 0 < np.nanmean(steps[changes]) - 0.3
    assert np.nanmean(np.abs(np.diff(bug["loss"]))) > 3 * np.nanmean(np.abs(np.diff(ok["loss"])))
    assert np.nanmax(bug["val_accuracy"]) < np.nanmax(ok["val_accuracy"]) - 0.1


def check_unnormalized(contest: BugRace) -> None:
    """At the same learning rate the raw run blows up and the standardised one fits."""
    ok, bug = contest.trainers
    assert bug.status == "diverged" and ok.status == "completed"
    assert history(ok)["loss"][-1] < 0.1


def check_loss_accumulation(contest: BugRace) -> None:
    """The same losses, but a graph that grows with every batch of an epoch (none when correct)."""
    ok, bug = (history(t) for t in contest.trainers)
    assert np.array_equal(ok["loss"], bug["loss"])
    kept = np.array(retained(contest.trainers[1]))
    assert not any(retained(contest.trainers[0]))
    for rows in epoch_slices(bug):
        growth = np.diff(kept[rows])
        assert len(rows) >= 8 and (growth > 0).all()
        assert len(set(growth.tolist())) == 1  # the same nodes again per batch: linear growth
    assert kept[epoch_slices(bug)[1][0]] < kept[epoch_slices(bug)[0][-1]]  # reset per epoch


CHECKS: dict[str, Callable[[BugRace], None]] = {
    "no_zero_grad": check_no_zero_grad, "no_eval": check_no_eval,
    "sigmoid_bce": check_sigmoid_bce, "softmax_ce": check_softmax_ce,
    "unshuffled": check_unshuffled, "unnormalized": check_unnormalized,
    "loss_accumulation": check_loss_accumulation,
}


@pytest.mark.parametrize("name", list(BUGS))
def test_the_buggy_run_differs_as_its_sentence_says(name: str) -> None:
    assert set(CHECKS) == set(BUGS)
    CHECKS[name](raced(name))
    assert summary(raced(name).frames(), BUGS[name].chart).count("·") == 1


def test_the_retained_graph_is_counted_not_guessed() -> None:
    loop = AccumulatedLoss()
    w = torch.ones(3, requires_grad=True)
    for epoch, n in ((1, 1), (1, 2), (1, 3), (2, 1)):
        loss = (w * n).sum()
        loss.backward()
        assert loop.item(loss, epoch) == 3.0 * n
    per_loss = retained_nodes((w * 1).sum().grad_fn)  # Sum, Mul, AccumulateGrad
    assert per_loss == 3
    assert loop.retained == [4, 7, 10, 4]  # + an Add per batch; w's AccumulateGrad shared


def test_validation_contexts_leave_training_mode_as_they_found_it() -> None:
    model = torch.nn.Sequential(torch.nn.Dropout(0.5))
    with evaluating(model):
        assert not model.training and not torch.is_grad_enabled()
    assert model.training and torch.is_grad_enabled()


# The command line -----------------------------------------------------------------------------
def test_cli_bug_is_set_bug_and_its_train_py_holds_the_bug(tmp_path: Path) -> None:
    args = ["train", "--set", "task=line", "--set", "epochs=5", "--set", "batch_size=8", "--quiet"]
    assert main([*args, "--bug", "no_zero_grad", "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--set", "bug=no_zero_grad", "--out", str(tmp_path / "b")]) == 0
    saved = json.loads((tmp_path / "a" / "config.json").read_text())
    assert saved["bug"] == "no_zero_grad"
    a, b = ((tmp_path / d / "history.csv").read_text().splitlines() for d in "ab")
    assert [r.split(",")[:5] for r in a] == [r.split(",")[:5] for r in b]
    normal = Trainer(RunConfig.from_dict({**saved, "bug": "none"}))
    while not normal.done:
        normal.step()
    assert a[0].split(",")[4] == "grad_norm"
    norms = normal.result().history["grad_norm"]
    assert float(a[1].split(",")[4]) == norms[0]  # the first step agrees
    assert float(a[2].split(",")[4]) > 1.2 * norms[1]  # then the gradients pile up
    script = (tmp_path / "a" / "train.py").read_text()
    assert "# BUG (no_zero_grad)" in script and "# self.optimizer.zero_grad(" in script


def test_cli_refuses_an_unknown_bug_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["train", "--bug", "typo", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "bug: 'typo' is not allowed" in err
