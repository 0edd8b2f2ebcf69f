"""Races: same weights, same batches, each contender equal to its solo run, divergence stays local."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from playground import RunConfig, build, train
from playground.cli import main
from playground.compare import (
    CHUNK,
    PLAYBACK,
    SHARED,
    VARYING,
    Race,
    contender_names,
    leaderboard,
    parse_vary,
    race,
    steps_to_threshold,
    variants,
)
from playground.config import FIELDS, ConfigError
from playground.engine import TrainResult
from playground.history import COLUMNS, Table


def mix(base: RunConfig) -> list[RunConfig]:
    """Eight contenders that differ in every way a race allows, LBFGS included."""
    return [
        base.replace(optimizer="adam", lr=0.01),
        base.replace(optimizer="sgd", lr=0.5, momentum=0.9, nesterov=True),
        base.replace(optimizer="adamw", lr=0.003, weight_decay=0.1, schedule="warmup_cosine",
                     warmup=5),
        base.replace(optimizer="rmsprop", lr=0.001, momentum=0.5, weight_decay=0.01, loss="l1"),
        base.replace(optimizer="adam", lr=0.02, loss="huber", schedule="cosine"),
        base.replace(optimizer="nadam", lr=0.01, weight_decay=0.01, loss="bce", clip_grad_norm=0.1),
        base.replace(optimizer="radam", lr=0.01, schedule="plateau", step_size=1, gamma=0.5),
        base.replace(optimizer="lbfgs", lr=0.5),
    ]


def mix_b(base: RunConfig) -> list[RunConfig]:
    """The other optimizers and schedules, and early stopping."""
    return [
        base.replace(optimizer="adagrad", lr=0.05, schedule="exponential", step_size=5),
        base.replace(optimizer="adamax", lr=0.01, schedule="onecycle"),
        base.replace(optimizer="sgd", lr=0.3, schedule="cyclic", step_size=4),
        base.replace(optimizer="sgd", lr=0.3, weight_decay=0.05, schedule="step", step_size=7),
        base.replace(optimizer="adam", lr=1e-5, patience=3, min_delta=0.01),
        base.replace(optimizer="rmsprop", lr=0.003, alpha=0.9, eps=1e-6),
    ]


def assert_matches_solo(result: TrainResult, solo: TrainResult) -> None:
    """Same steps and outcome; losses to float tolerance early, within a few percent at the end."""
    name = f"{result.config.optimizer} lr={result.config.lr}"
    assert (result.status, result.steps, result.diverged_at) == \
        (solo.status, solo.steps, solo.diverged_at), name
    ours, theirs = result.history, solo.history
    np.testing.assert_allclose(ours["loss"][:10], theirs["loss"][:10], rtol=1e-5, err_msg=name)
    np.testing.assert_allclose(ours["lr"], theirs["lr"], rtol=1e-6, err_msg=name)
    assert ours["epoch"].tolist() == theirs["epoch"].tolist()
    assert result.final_loss == pytest.approx(solo.final_loss, rel=0.03), name
    assert result.best_loss == pytest.approx(solo.best_loss, rel=0.03), name


@pytest.mark.parametrize("model", ["pixels", "coord", "conv", "mlp"])
def test_each_contender_matches_its_solo_run(model: str) -> None:
    base = RunConfig(model=model, size=8, epochs=6 if model == "coord" else 20, batch_size=16)
    configs = mix(base)
    contest = Race(configs, stacked=True)  # mlp too: the batched path must be exact for it as well
    assert contest.stack is not None and len(contest.trainers) == 1  # LBFGS runs alone
    while not contest.done:
        contest.step()
    for result, cfg in zip(contest.results(), configs, strict=True):
        assert_matches_solo(result, train(cfg))


def test_other_optimizers_schedules_and_early_stopping_match_solo() -> None:
    configs = mix_b(RunConfig(model="pixels", size=8, epochs=40))
    results = race(configs)
    solos = [train(c) for c in configs]
    for result, solo in zip(results, solos, strict=True):
        assert_matches_solo(result, solo)
    assert results[4].status == "early_stopped" and results[4].reason == solos[4].reason


def test_latent_mlp_races_as_sequential_trainers_by_default() -> None:
    configs = [RunConfig(model="mlp", size=8, epochs=10, lr=lr) for lr in (0.001, 0.01)]
    contest = Race(configs)
    assert contest.stack is None and len(contest.trainers) == 2
    for result, cfg in zip(race(configs), configs, strict=True):
        np.testing.assert_allclose(result.history["loss"], train(cfg).history["loss"], rtol=1e-6)


def test_contenders_start_from_the_same_weights_and_see_the_same_batches() -> None:
    base = RunConfig(model="coord", size=8, batch_size=16, epochs=3)
    configs = [base.replace(lr=0.01), base.replace(optimizer="sgd", lr=0.1),
               base.replace(optimizer="lbfgs", lr=0.5)]
    contest = Race(configs)
    expected = dict(build(base).model.named_parameters())
    for row, _ in enumerate(configs[:2]):
        for name, w in zip(contest.stack.names, contest.stack.weights, strict=True):
            assert torch.equal(w[row], expected[name])
    for name, p in contest.trainers[2].b.model.named_parameters():
        assert torch.equal(p, expected[name])
    reference = build(base).loader  # a solo run's loader: same seed, same shuffles
    for epoch in range(1, 4):
        for _ in range(4):
            contest.step()
        solo_batches = list(reference)
        assert len(contest._epochs.get(epoch)) == len(solo_batches) == 4
        for (x, y), (x2, y2) in zip(contest._epochs.get(epoch), solo_batches, strict=True):
            assert torch.equal(x, x2) and torch.equal(y, y2)
    assert contest.done and all(s == "completed" for s in contest.statuses)
    first = [h["loss"].iloc[0] for h in contest.histories()]
    assert first[0] == first[1]  # same weights, same first batch, same loss
    assert first[2] == pytest.approx(first[0], rel=1e-6)  # LBFGS: solo arithmetic, same numbers


def test_advance_lets_sequential_contenders_run_ahead_on_the_same_batches() -> None:
    base = RunConfig(model="coord", size=8, batch_size=16, epochs=5)  # 4 shuffled batches/epoch
    configs = [base.replace(lr=0.01), base.replace(optimizer="sgd", lr=0.1),
               base.replace(optimizer="lbfgs", lr=0.5), base.replace(optimizer="lbfgs", lr=0.2)]
    contest = Race(configs)
    sizes = []
    while not contest.done:
        sizes.append(len(contest.advance(7)))
        assert len(contest._epochs.drawn) <= 3  # epochs are dropped once every lane is past them
    assert sizes == [7, 7, 6] and contest.step_count == 20 and contest.epoch == 5
    for result, cfg in zip(contest.results(), configs, strict=True):
        assert_matches_solo(result, train(cfg))


@pytest.mark.parametrize("model", ["pixels", "conv"])
def test_a_diverging_contender_stops_alone(model: str) -> None:
    base = RunConfig(model=model, size=8, epochs=25)
    configs = [base.replace(lr=0.01), base.replace(optimizer="sgd", lr=1000.0),
               base.replace(lr=0.003)]
    contest = Race(configs)
    seen: list[list] = []
    while not contest.done:
        seen.append(contest.step())
    results = contest.results()
    solo = train(configs[1])
    bad = results[1]
    assert bad.status == "diverged" and bad.diverged_at == solo.diverged_at
    assert bad.reason == solo.reason and "lr=1000" in bad.reason
    assert np.isfinite(bad.history["loss"].iloc[:-1]).all() and bad.steps == bad.diverged_at
    np.testing.assert_allclose(bad.history["loss"], solo.history["loss"], rtol=1e-5)  # blow-up too
    assert seen[bad.diverged_at - 1][1] is not None  # the row of the step that blew up
    assert all(rows[1] is None for rows in seen[bad.diverged_at:])
    np.testing.assert_array_equal(bad.image, solo.image)  # the best (initial) weights came back
    for good in (results[0], results[2]):
        assert good.status == "completed" and good.steps == 25
        assert good.final_loss < good.history["loss"].iloc[0]


def test_race_steps_views_and_stop() -> None:
    configs = [RunConfig(model="pixels", size=8, epochs=50, lr=lr) for lr in (0.003, 0.03)]
    contest = Race(configs)
    assert contest.names == ["lr=0.003", "lr=0.03"] and contest.statuses == ["ready", "ready"]
    rows = contest.step()
    assert [len(r) for r in rows] == [len(COLUMNS)] * 2 and rows[0][0] == rows[1][0] == 1
    images = contest.images()
    assert len(images) == 2 and all(im.shape == (8, 8, 4) and im.dtype == np.uint8 for im in images)
    for _ in range(4):
        contest.step()
    assert [len(h) for h in contest.histories()] == [5, 5]
    contest.stop()
    assert contest.done and contest.statuses == ["stopped", "stopped"]
    assert contest.step() == [None, None]
    results = contest.results()
    for r, im in zip(results, contest.images(), strict=True):
        assert r.status == "stopped" and r.steps == 5
        np.testing.assert_array_equal(r.image, im)  # the packaged model is the raced weights
    board = contest.leaderboard()
    assert list(board["name"]) == ["lr=0.03", "lr=0.003"]  # both stopped: lower loss first


def test_race_function_calls_hooks_and_can_be_stopped() -> None:
    configs = [RunConfig(model="pixels", size=8, epochs=100, lr=lr) for lr in (0.01, 0.02)]
    calls: list[list] = []
    results = race(configs, on_step=lambda contest, rows: calls.append(rows),
                   should_stop=lambda: len(calls) >= 7)
    assert len(calls) == CHUNK  # should_stop is asked between chunks of locksteps
    assert all(len(rows) == 2 and rows[0] is not None for rows in calls)
    assert [r.status for r in results] == ["stopped", "stopped"]
    assert [r.steps for r in results] == [CHUNK, CHUNK]


@pytest.mark.parametrize(("change", "field"), [({"seed": 1}, "seed"), ({"model": "pixels"}, "model"),
                                               ({"sprite": "ghost"}, "sprite"),
                                               ({"epochs": 5}, "epochs")])
def test_contenders_must_share_the_task(change: dict, field: str) -> None:
    base = RunConfig(size=8)
    with pytest.raises(ConfigError, match=f"share {field}"):
        Race([base, base.replace(**change)])


def test_two_to_eight_contenders() -> None:
    base = RunConfig(size=8)
    with pytest.raises(ConfigError, match="2 to 8"):
        Race([base])
    with pytest.raises(ConfigError, match="2 to 8"):
        race([base.replace(lr=0.001 * (i + 1)) for i in range(9)])


def test_every_setting_is_either_shared_or_may_vary() -> None:
    assert set(SHARED).isdisjoint(VARYING) and set(PLAYBACK).isdisjoint({*SHARED, *VARYING})
    assert set(SHARED) | set(VARYING) | set(PLAYBACK) == set(FIELDS)


def test_names_vary_and_variants() -> None:
    base = RunConfig(size=8)
    configs = variants(base, parse_vary(["lr=1e-3,1e-2", "optimizer=sgd,adam"]))
    assert [(c.lr, c.optimizer) for c in configs] == [(0.001, "sgd"), (0.001, "adam"),
                                                       (0.01, "sgd"), (0.01, "adam")]
    assert contender_names(configs) == ["sgd lr=0.001", "adam lr=0.001", "sgd lr=0.01",
                                        "adam lr=0.01"]
    assert contender_names([base, base]) == ["#1", "#2"]
    assert parse_vary(["betas=0.9,0.99;0.5,0.9"]) == {"betas": [(0.9, 0.99), (0.5, 0.9)]}
    with pytest.raises(ConfigError, match="at most 8"):
        variants(base, parse_vary(["lr=1,2,3", "optimizer=sgd,adam,adamw"]))
    with pytest.raises(ConfigError, match="share size"):
        variants(base, parse_vary(["size=8,16"]))


def test_leaderboard_ranks_and_counts_steps_to_threshold() -> None:
    def result(losses: list[float], status: str, diverged_at: int | None = None) -> TrainResult:
        hist = Table(("step", "loss"), np.array([range(1, len(losses) + 1), losses], float).T)
        return TrainResult(RunConfig(), status, hist, None, None, min(losses), diverged_at, "", 1.0)

    runs = [result([1.0, 0.5, 0.2, 0.05], "completed"), result([1.0, 0.09, 0.01], "completed"),
            result([1.0, 50.0], "diverged", 3), result([1.0, 0.95], "completed")]
    assert steps_to_threshold(runs[0].rows) == 4  # first loss below 10% of the first loss
    assert steps_to_threshold(runs[0].rows, threshold=0.3) == 3
    board = leaderboard(runs, ["a", "b", "c", "d"])
    assert list(board["name"]) == ["b", "a", "d", "c"]
    assert board["steps_to_threshold"].tolist() == [2, 4, pd.NA, pd.NA]
    assert board["diverged_at"].tolist() == [pd.NA, pd.NA, pd.NA, 3]


def test_cli_race_writes_histories_images_and_leaderboard(tmp_path: Path, capsys) -> None:
    out = tmp_path / "race"
    code = main(["race", "--set", "model=pixels", "--set", "size=8", "--set", "epochs=20",
                 "--vary", "lr=0.01,1000", "--vary", "optimizer=sgd,adam", "--out", str(out),
                 "--quiet"])
    assert code == 0
    board = pd.read_csv(out / "leaderboard.csv")
    assert list(board.columns) == ["name", "status", "final_loss", "best_loss",
                                   "steps_to_threshold", "diverged_at", "steps"]
    assert sorted(board["name"]) == ["adam lr=0.01", "adam lr=1000.0", "sgd lr=0.01",
                                     "sgd lr=1000.0"]
    assert set(board.loc[board["status"] == "diverged", "name"]) == {"adam lr=1000.0",
                                                                     "sgd lr=1000.0"}
    assert board["status"].tolist()[-2:] == ["diverged", "diverged"]
    for name in ("sgd_lr=0.01", "adam_lr=1000.0"):
        hist = pd.read_csv(out / name / "history.csv")
        assert tuple(hist.columns) == COLUMNS and len(hist) >= 1
        assert Image.open(out / name / "final.png").size == (8, 8)
        assert RunConfig.from_json((out / name / "config.json").read_text()).size == 8
    assert "adam lr=0.01" in capsys.readouterr().out
    too_many = main(["race", "--vary", "lr=1,2,3", "--vary", "optimizer=sgd,adam,adamw",
                     "--out", str(tmp_path / "x")])
    assert too_many == 2 and not (tmp_path / "x").exists()


def test_other_lessons_race_as_sequential_trainers() -> None:
    base = RunConfig.from_dict({"task": "line", "epochs": 5})
    configs = [base, base.replace(lr=base.lr * 3), base.replace(optimizer="adam", lr=0.1)]
    contest = Race(configs)
    assert contest.stack is None and contest.images() == [None, None, None]
    for result, cfg in zip(race(configs), configs, strict=True):
        np.testing.assert_allclose(result.history["loss"], train(cfg).history["loss"], rtol=1e-6)


def test_identical_race_results_are_deterministic() -> None:
    configs = [RunConfig(model="conv", size=8, epochs=5, lr=lr) for lr in (0.001, 0.01)]
    a, b = race(configs), race(configs)
    for x, y in zip(a, b, strict=True):
        assert x.history["loss"].tolist() == y.history["loss"].tolist()
        assert math.isfinite(x.best_loss)
