"""Tune: the Optuna search over RunConfig's settings, its pruner, and `python -m playground tune`."""

from __future__ import annotations

import json
import math
from pathlib import Path

import optuna
import pandas as pd
import pytest

from playground.cli import main
from playground.compare import tune
from playground.compare.tune_space import Param, apply, default_range, parse_search, searchable
from playground.config import FIELDS, ConfigError, RunConfig
from playground.engine import train

optuna.logging.set_verbosity(optuna.logging.WARNING)
BASE = RunConfig(size=8, epochs=60)  # the coordinate MLP on an 8x8 heart: one step per epoch
SEARCH = ["lr=1e-4:1:log", "optimizer=sgd,adam,adamw"]


def small_study(seed: int, **options) -> optuna.Study:
    """The issue's small study: 12 trials over 2 settings."""
    space = parse_search(SEARCH, BASE)
    return tune.run_study(BASE, space, tune.TuneOptions(trials=12, seed=seed, **options))


# The search space ---------------------------------------------------------------------------
def test_search_strings_become_ranges_and_sets() -> None:
    space = parse_search([*SEARCH, "hidden=8:64", "beta1=0.5:0.95", "batch_size=16,32,64",
                          "nesterov=true,false"], BASE)
    assert space["lr"] == Param("lr", 1e-4, 1.0, log=True)
    assert space["optimizer"].choices == ("sgd", "adam", "adamw")
    assert space["hidden"].integer and (space["hidden"].low, space["hidden"].high) == (8, 64)
    assert space["batch_size"].choices == (16, 32, 64)
    assert space["nesterov"].choices == (True, False)
    cfg = apply(BASE, {"beta1": 0.7, "lr": 0.01})
    assert cfg.betas == (0.7, BASE.betas[1]) and cfg.lr == 0.01
    assert parse_search([p.text() for p in space.values()], BASE) == space  # the text round-trips


@pytest.mark.parametrize(("search", "bad"), [
    ("lr=-1:1", "lr=-1"), ("lr=1e-9:1:log", "lr=1e-9"), ("size=2:16", "size=2"),
    ("momentum=0:2", "momentum=2"), ("optimizer=sgd,adamz", "optimizer=adamz")])
def test_a_range_outside_runconfig_gets_the_same_sentence_as_set(search: str, bad: str,
                                                                 tmp_path: Path, capsys) -> None:
    assert main(["train", "--set", bad, "--out", str(tmp_path / "x")]) == 2
    set_line = capsys.readouterr().err.strip()
    assert main(["tune", "--search", search, "--out", str(tmp_path)]) == 2
    tune_line = capsys.readouterr().err.strip()
    assert tune_line == set_line and len(tune_line.splitlines()) == 1
    assert not (tmp_path / "trials.csv").exists()


@pytest.mark.parametrize(("search", "message"), [
    ("lr=0.1:0.01", "the low end must be below the high end"),
    ("momentum=0:0.9:log", "a log range needs a low end above 0"),
    ("lr=1e-3", "expected low:high or low:high:log"),
    ("optimizer=adam", "give at least two choices"),
    ("pixels=a,b", "cannot be searched"),
    ("learning_rate=1:2", "unknown setting 'learning_rate'"),
])
def test_malformed_searches_are_refused_in_one_sentence(search: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_search([search], BASE)


def test_every_searchable_setting_has_a_default_range_that_validates() -> None:
    names = [n for n in FIELDS if searchable(n)] + ["beta1", "beta2"]
    assert {"lr", "optimizer", "momentum", "weight_decay", "schedule", "batch_size", "hidden",
            "depth", "dropout"} <= set(names)
    for name in names:
        if name in ("task", "sprite", "model", "loss", "monitor"):
            continue  # choices that belong to a task: the app offers those the task allows
        parse_search([default_range(name, BASE).text()], BASE)


# The study ----------------------------------------------------------------------------------
def test_small_study_beats_the_default_config_and_reproduces_with_its_seed() -> None:
    default_loss = float(train(BASE).history["loss"].iloc[-1])
    first, again, other = small_study(1), small_study(1), small_study(2)
    space = parse_search(SEARCH, BASE)
    frame = tune.trials_frame(first, space)
    assert len(frame) == 12 and set(frame["state"]) <= {"complete", "pruned"}
    assert first.best_value <= default_loss
    cols = ["trial", "state", "value", "lr", "optimizer", "epochs"]
    pd.testing.assert_frame_equal(frame[cols], tune.trials_frame(again, space)[cols])
    assert tune.trials_frame(other, space)["lr"].tolist() != frame["lr"].tolist()
    best = tune.best_config(first, BASE)  # the best trial's config trains to its value again
    assert float(train(best).history["loss"].iloc[-1]) == pytest.approx(first.best_value, rel=1e-6)


@pytest.mark.parametrize("pruner", ["median", "hyperband"])
def test_the_pruner_stops_a_trial_whose_loss_stays_high(pruner: str) -> None:
    """A crafted objective: trials whose 'loss' falls, and every fourth one whose loss stays high."""
    cfg = RunConfig(epochs=40)
    # Hyperband puts each trial in a bracket by hashing the study's name with the trial number,
    # and prunes only against that bracket's peers: a fixed name makes the brackets (and so the
    # test) the same every run; an auto-generated name left a stuck trial alone in 1 run in 4
    study = optuna.create_study(study_name="stuck", sampler=optuna.samplers.RandomSampler(seed=0),
                                pruner=tune.make_pruner(pruner, cfg))
    stuck = []

    def objective(trial: optuna.Trial) -> float:
        high = trial.number % 4 == 3 and trial.number > 5
        if high:
            stuck.append(trial.number)
        value = 1.0
        for epoch in range(1, cfg.epochs + 1):
            value = 0.9 if high else 1.0 / epoch
            trial.report(value, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned
        return value

    study.optimize(objective, n_trials=16)
    states = {t.number: t.state for t in study.trials}
    assert stuck and all(states[n] == optuna.trial.TrialState.PRUNED for n in stuck)
    if pruner == "median":  # the median pruner never stops a trial no worse than the median
        assert all(s == optuna.trial.TrialState.COMPLETE for n, s in states.items() if n not in stuck)


def test_a_real_trial_that_barely_learns_is_pruned_and_says_when() -> None:
    space = parse_search(["lr=0.000001,0.01"], BASE)
    study = tune.run_study(BASE, space, tune.TuneOptions(trials=10, seed=0, pruner="median"))
    frame = tune.trials_frame(study, space)
    crawling = frame[frame["lr"] == 1e-6]
    assert (crawling["state"] == "pruned").any()
    pruned = crawling[crawling["state"] == "pruned"].iloc[0]
    assert pruned["ended"] == f"pruned at epoch {pruned['epochs']}" and pruned["epochs"] < BASE.epochs
    assert (frame[frame["lr"] == 0.01]["state"] == "complete").all()


def test_stopping_ends_the_running_trial_and_keeps_the_finished_ones() -> None:
    space = parse_search(["lr=1e-3:1e-2:log"], BASE)
    calls = []

    def should_stop() -> bool:
        calls.append(1)
        return len(calls) > 150  # two and a half trials of 60 steps
    study = tune.run_study(BASE, space, tune.TuneOptions(trials=12, pruner="none"),
                           should_stop=should_stop)
    frame = tune.trials_frame(study, space)
    assert frame["state"].tolist() == ["complete", "complete", "stopped"]
    assert frame["ended"].iloc[-1].startswith("stopped at epoch")


def test_a_diverged_trial_is_pruned_with_its_step() -> None:
    space = parse_search(["lr=500,0.01"], RunConfig(size=8, epochs=20, optimizer="sgd", model="mlp"))
    study = tune.run_study(RunConfig(size=8, epochs=20, optimizer="sgd", model="mlp"), space,
                           tune.TuneOptions(trials=4, seed=3, pruner="none"))
    frame = tune.trials_frame(study, space)
    blown = frame[frame["lr"] == 500]
    assert len(blown) and (blown["state"] == "pruned").all()
    assert blown["ended"].str.match(r"diverged at step \d+").all()


def test_classify_can_be_tuned_for_validation_accuracy() -> None:
    base = RunConfig(task="classify", model="mlp", size=8, samples=120, epochs=3, hidden=16)
    assert tune.objectives_for("classify") == ["final_loss", "best_loss", "val_loss", "val_accuracy"]
    assert tune.objectives_for("generate") == ["final_loss", "best_loss"]
    space = parse_search(["lr=1e-3:1e-1:log", "dropout=0:0.5"], base)
    study = tune.run_study(base, space, tune.TuneOptions(trials=3, objective="val_accuracy"))
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE
    assert all(0.0 <= t.value <= 1.0 for t in study.trials)
    with pytest.raises(ConfigError, match="objective: 'val_loss' is not allowed for task generate"):
        tune.run_study(BASE, space, tune.TuneOptions(trials=1, objective="val_loss"))


def test_a_stored_study_refuses_a_different_search(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    space = parse_search(SEARCH, BASE)
    tune.run_study(BASE, space, tune.TuneOptions(trials=2, storage=url))
    again = tune.run_study(BASE, space, tune.TuneOptions(trials=2, storage=url, seed=5))
    assert [t.number for t in again.trials] == [0, 1, 2, 3]  # the same study carried on
    with pytest.raises(ConfigError, match="searches another config, range or objective"):
        tune.open_study(BASE, parse_search(["lr=1e-3:1:log"], BASE),
                        tune.TuneOptions(storage=url))


def test_importances_come_after_enough_trials() -> None:
    study = small_study(1)
    ranks = tune.importances(study)
    assert set(ranks) == {"lr", "optimizer"} and math.isclose(sum(ranks.values()), 1.0)
    assert tune.importances(optuna.create_study()) == {}


# The command line ---------------------------------------------------------------------------
def test_tune_command_writes_trials_best_json_and_importances(tmp_path: Path, capsys) -> None:
    out = tmp_path / "tune"
    code = main(["tune", "--set", "size=8", "--set", "epochs=60", *sum((["--search", s]
                 for s in SEARCH), []), "--trials", "12", "--sampler-seed", "1", "--out", str(out),
                 "--quiet"])
    assert code == 0
    trials = pd.read_csv(out / "trials.csv")
    assert trials["trial"].tolist() == list(range(12))
    assert {"state", "value", "lr", "optimizer", "seconds", "ended"} <= set(trials.columns)
    best_value = trials.loc[trials["state"] == "complete", "value"].min()
    assert "best value" in capsys.readouterr().out
    assert pd.read_csv(out / "importances.csv")["param"].tolist()[0] in ("lr", "optimizer")
    assert main(["train", "--config", str(out / "best.json"), "--out", str(tmp_path / "run"),
                 "--quiet"]) == 0  # best.json is a config train accepts, and it trains to its value
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["final_loss"] == pytest.approx(best_value, rel=1e-6)


# The charts ---------------------------------------------------------------------------------
def test_charts_draw_a_perfect_zero_on_a_log_axis_and_accuracy_on_a_linear_one() -> None:
    from playground.charts import tune as charts

    frame = pd.DataFrame({"trial": [0, 1, 2, 3], "state": ["complete", "complete", "pruned", "complete"],
                          "value": [0.5, 0.0, math.nan, 0.02], "lr": [0.1, 0.2, 0.3, 4.0],
                          "optimizer": ["sgd", "adam", "sgd", "adam"], "ended": ["", "", "diverged", ""]})
    assert charts.best_so_far(frame, "minimize")["best"].tolist() == [0.5, 0.0, 0.0]
    spec = charts.value_chart(frame, "minimize").to_dict()
    assert [layer["encoding"]["y"]["scale"] for layer in spec["layer"]] == [{"type": "log"}] * 2
    drawn = next(rows for rows in spec["datasets"].values() if "value" in rows[0])
    assert min(row["value"] for row in drawn) == pytest.approx(0.002)  # 0 sits at the floor
    accuracy = charts.lr_chart(frame.assign(value=[0.5, 0.9, math.nan, 0.25]), "optimizer",
                               "maximize").to_dict()
    assert "scale" not in accuracy["encoding"]["y"]  # linear
    assert charts.importance_chart({"lr": 0.9, "optimizer": 0.1}).to_dict()["mark"]["type"] == "bar"
