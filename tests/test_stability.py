"""The stability map: each cell equals its solo run, a too-large LR diverges, cancelling and caching."""

from __future__ import annotations

import numpy as np
import pytest

from playground import RunConfig, train
from playground.compare.stability import COLUMNS, cache_key, cell_config, log_lrs, stability_map
from playground.config import ConfigError

BASE = RunConfig(model="pixels", size=8, optimizer="rmsprop", lr=0.5)  # the map sets both
LRS = [0.01, 0.3, 10.0, 1000.0]
OPTIMIZERS = ["sgd", "adam"]
STEPS = 15



def test_each_cell_equals_its_solo_run_and_big_sgd_diverges() -> None:
    progress: list[tuple[int, int]] = []
    frame = stability_map(BASE, LRS, OPTIMIZERS, STEPS, on_progress=lambda *p: progress.append(p))
    assert list(frame.columns) == COLUMNS
    assert list(zip(frame["optimizer"], frame["lr"], strict=True)) == \
        [(o, lr) for o in OPTIMIZERS for lr in LRS]
    for row in frame.itertuples():
        solo = train(cell_config(BASE, row.optimizer, row.lr, STEPS))
        assert (row.status, row.steps) == (solo.status, solo.steps), row
        assert row.diverged == (solo.status == "diverged")
        assert (row.diverged_at if row.diverged else None) == solo.diverged_at
        assert row.final_loss == pytest.approx(solo.final_loss, rel=1e-4)
        assert row.best_loss == pytest.approx(solo.best_loss, rel=1e-4)
    sgd = frame[frame["optimizer"] == "sgd"].set_index("lr")
    assert sgd.loc[1000.0, "diverged"] and sgd.loc[1000.0, "diverged_at"] >= 1
    assert not sgd.loc[0.01, "diverged"] and sgd.loc[0.01, "status"] == "completed"
    assert sgd.loc[0.3, "final_loss"] < sgd.loc[0.01, "final_loss"]  # the bigger safe LR learns faster
    done = [d for d, _ in progress]
    assert done == sorted(done) and progress[-1][1] == len(LRS) * len(OPTIMIZERS) * STEPS
    assert done[-1] == frame["steps"].sum()


def test_cancel_returns_partial_results_marked_not_run() -> None:
    calls: list[int] = []  # one progress call per lockstep: STEPS calls finish the sgd race
    frame = stability_map(BASE, LRS, OPTIMIZERS, STEPS, on_progress=lambda d, t: calls.append(d),
                          should_stop=lambda: len(calls) >= STEPS)
    sgd, adam = frame[frame["optimizer"] == "sgd"], frame[frame["optimizer"] == "adam"]
    assert (sgd["status"] != "not_run").all()  # the first race finished before the stop
    assert (adam["status"] == "not_run").all()
    assert adam["final_loss"].isna().all() and (adam["steps"] == 0).all()
    assert not adam["diverged"].any() and adam["diverged_at"].isna().all()


def test_cancel_mid_race_marks_its_cells_not_run() -> None:
    calls: list[int] = []
    frame = stability_map(BASE, LRS[:2], ["adam"], 50, on_progress=lambda d, t: calls.append(d),
                          should_stop=lambda: len(calls) >= 3)
    assert (frame["status"] == "not_run").all() and len(frame) == 2


def test_more_than_eight_lrs_run_in_several_races() -> None:
    lrs = log_lrs(1e-3, 1.0, 9)
    assert len(lrs) == 9 and lrs[0] == 0.001 and lrs[-1] == 1.0
    frame = stability_map(BASE, lrs, ["adam"], 3)
    assert (frame["status"] == "completed").all() and len(frame) == 9
    lone = train(cell_config(BASE, "adam", lrs[-1], 3))  # the ninth ran alone
    assert frame["final_loss"].iloc[-1] == pytest.approx(lone.final_loss, rel=1e-6)


def test_steps_round_up_to_whole_epochs_for_the_coordinate_mlp() -> None:
    cfg = cell_config(RunConfig(model="coord", size=8, batch_size=16), "sgd", 0.1, 10)
    assert cfg.batches_per_epoch == 4 and cfg.epochs == 3 and cfg.total_steps == 12


def test_cache_key_is_stable_and_depends_only_on_what_the_map_uses() -> None:
    key = cache_key(BASE, LRS, OPTIMIZERS, STEPS)
    assert key == cache_key(RunConfig.from_json(BASE.to_json()), LRS, OPTIMIZERS, STEPS)
    assert key == cache_key(BASE.replace(lr=0.001, optimizer="sgd", epochs=7), LRS, OPTIMIZERS,
                            STEPS)  # what each cell overrides does not matter
    for other in (cache_key(BASE.replace(sprite="ghost"), LRS, OPTIMIZERS, STEPS),
                  cache_key(BASE.replace(momentum=0.9), LRS, OPTIMIZERS, STEPS),
                  cache_key(BASE, LRS[:3], OPTIMIZERS, STEPS),
                  cache_key(BASE, LRS, OPTIMIZERS[::-1], STEPS),
                  cache_key(BASE, LRS, OPTIMIZERS, STEPS + 1)):
        assert other != key
    shuffled = RunConfig.from_dict(dict(reversed(BASE.to_dict().items())))
    assert cache_key(shuffled, LRS, OPTIMIZERS, STEPS) == key  # no dependence on key order
    assert len(key) == 32 and int(key, 16) >= 0  # a sha256 prefix: no hash(), no process salt


def test_bad_grids_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        stability_map(BASE, [], OPTIMIZERS, STEPS)
    with pytest.raises(ConfigError, match="lr"):
        stability_map(BASE, [1e9], OPTIMIZERS, STEPS)
    with pytest.raises(ConfigError, match="optimizer"):
        stability_map(BASE, LRS, ["nope"], STEPS)
    assert np.isfinite(log_lrs()).all()
