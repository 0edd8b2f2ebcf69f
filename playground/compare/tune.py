"""Hyperparameter search with Optuna: each trial is the playground's own Trainer on the base config
with the trial's values, reporting its value every few epochs so a pruner (median or Hyperband) can
stop hopeless trials early. The sampler is TPE, seeded: the same study gives the same trials. With a
storage URL (SQLite, PostgreSQL: Optuna's RDB storage) any number of processes share one study.

How often a trial reports: every `ceil(epochs / MAX_REPORTS)` epochs. A sprite run has one step per
epoch for most models (400 epochs by default), so reporting every epoch would write 400 rows per
trial into a shared database and ask the pruner 400 times; 50 reports keep that small and still let
the pruner act within the first tenth of a run. A classify run (20 epochs) reports every epoch.
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import optuna
import pandas as pd

from playground.compare.tune_space import Space, apply, clean
from playground.compare.tune_storage import open_storage
from playground.config import ConfigError, RunConfig
from playground.engine import Trainer
from playground.tasks import TASKS, build

MAX_REPORTS = 50  # per trial (see the module's doc)
IMPORTANCE_AFTER = 4  # finished trials before importances mean anything


@dataclass(frozen=True)
class Objective:
    """What a trial is scored by: its per-epoch value, and whether the run's best or last counts."""

    doc: str
    column: str  # "loss" (the epoch's mean training loss) or a per-epoch history column
    best: bool  # the best epoch's value (else the last epoch's)
    direction: str = "minimize"
    needs: str | None = None  # a history column the task must have


OBJECTIVES: dict[str, Objective] = {
    "final_loss": Objective("the training loss of the last epoch", "loss", best=False),
    "best_loss": Objective("the lowest training loss of any epoch", "loss", best=True),
    "val_loss": Objective("the lowest validation loss (the checkpoint the run keeps)", "val_loss",
                          best=True, needs="val_loss"),
    "val_accuracy": Objective("the highest validation accuracy", "val_accuracy", best=True,
                              direction="maximize", needs="val_accuracy"),
}
PRUNERS = {"median": "stop a trial whose value is worse than the median of earlier trials at the "
                     "same epoch", "hyperband": "Hyperband: brackets of trials, the worst third "
                     "stopped at each rung", "none": "every trial runs to its end"}


def objectives_for(task: str) -> list[str]:
    """The objectives a task can be scored by (validation ones need a validation split)."""
    columns = TASKS[task].columns
    return [k for k, o in OBJECTIVES.items() if o.needs is None or o.needs in columns]


@dataclass(frozen=True)
class TuneOptions:
    """How a study runs: its budget, objective, pruner, sampler seed and (optional) storage."""

    trials: int = 20
    timeout: float | None = None  # seconds for this process (a running trial is cut at the end)
    objective: str = "final_loss"
    pruner: str = "median"
    seed: int = 0  # the TPE sampler's
    storage: str | None = None  # an RDB URL (sqlite:///study.db, postgresql://...), else in memory
    study: str = "playground"
    max_steps: int | None = None  # per trial (a server's cap); a trial reaching it is cut there


@dataclass
class Progress:
    """What the running trial has done, for a progress bar or the page."""

    trial: int = -1
    epoch: int = 0
    epochs: int = 0
    value: float = math.nan
    done: int = 0  # trials this process finished
    started: float = field(default_factory=time.monotonic)


class StudyStopped(Exception):
    """Raised inside a trial when the time budget ran out or the caller asked to stop."""


def report_every(cfg: RunConfig) -> int:
    """Epochs between reports (see the module's doc)."""
    return max(1, math.ceil(cfg.epochs / MAX_REPORTS))


def make_pruner(name: str, cfg: RunConfig) -> optuna.pruners.BasePruner:
    """Median (after 5 trials, and past the first quarter of the epochs, where curves still
    cross) or Hyperband over the epochs; or none."""
    every = report_every(cfg)
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=cfg.epochs // 4,
                                           interval_steps=every)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=every, max_resource=cfg.epochs,
                                              reduction_factor=3)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ConfigError(f"pruner: {name!r} is not allowed; expected one of {', '.join(PRUNERS)}")


def open_study(base: RunConfig, space: Space, options: TuneOptions) -> optuna.Study:
    """A new study, or the named one in the storage (which must search the same things)."""
    if options.objective not in objectives_for(base.task):
        raise ConfigError(f"objective: {options.objective!r} is not allowed for task {base.task}; "
                          f"expected one of {', '.join(objectives_for(base.task))}")
    startup = min(10, max(3, options.trials // 4))  # TPE starts guessing after a few random trials
    sampler = optuna.samplers.TPESampler(seed=options.seed, n_startup_trials=startup)
    try:
        study = optuna.create_study(storage=open_storage(options.storage), study_name=options.study,
                                    sampler=sampler, pruner=make_pruner(options.pruner, base),
                                    direction=OBJECTIVES[options.objective].direction,
                                    load_if_exists=True)
    except (ImportError, ValueError, KeyError) as exc:  # a bad URL, a missing database driver
        raise ConfigError(f"storage {options.storage!r}: {exc}") from None
    signature = {"base": base.to_dict(), "search": sorted(p.text() for p in space.values()),
                 "objective": options.objective}
    held = study.user_attrs.get("signature")
    if held is None:
        study.set_user_attr("signature", signature)
    elif held != signature:
        raise ConfigError(f"study {options.study!r} in this storage searches another config, "
                          "range or objective; give this search a new --study name")
    return study


def run_study(base: RunConfig, space: Space, options: TuneOptions,
              on_trial: Callable[[optuna.Study], None] | None = None,
              on_epoch: Callable[[Progress], None] | None = None,
              should_stop: Callable[[], bool] | None = None) -> optuna.Study:
    """Run `options.trials` trials (or until the timeout, or `should_stop()`), each a Trainer on
    the base config with the trial's values; returns the study (its trials are all there)."""
    study = open_study(base, space, options)
    deadline = time.monotonic() + options.timeout if options.timeout else math.inf
    progress = Progress()

    def stop_now() -> bool:
        return time.monotonic() >= deadline or (should_stop is not None and should_stop())

    def objective(trial: optuna.Trial) -> float:
        return run_trial(trial, base, space, options, progress, on_epoch, stop_now)

    def after(study: optuna.Study, _trial: Any) -> None:
        progress.done += 1
        if on_trial is not None:
            on_trial(study)
        if stop_now():
            study.stop()

    # a stop (or Ctrl-C) ends the trial in hand as failed ("stopped"); the study keeps the rest
    with contextlib.suppress(StudyStopped, KeyboardInterrupt):
        study.optimize(objective, n_trials=options.trials, timeout=options.timeout,
                       callbacks=[after], catch=(ConfigError,))
    return study


def run_trial(trial: optuna.Trial, base: RunConfig, space: Space, options: TuneOptions,
              progress: Progress, on_epoch: Callable[[Progress], None] | None,
              stop_now: Callable[[], bool]) -> float:
    """One trial: train, report every few epochs, prune when the pruner says so."""
    trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
    try:
        cfg = apply(base, {name: p.suggest(trial) for name, p in space.items()})
    except ConfigError as exc:
        trial.set_user_attr("ended", f"invalid: {exc}")
        raise
    goal = OBJECTIVES[options.objective]
    trainer = Trainer(cfg, build(cfg))
    every, sign = report_every(base), (1 if goal.direction == "minimize" else -1)
    value, best, losses = math.nan, math.inf, []
    progress.trial, progress.epoch, progress.epochs = trial.number, 0, cfg.epochs
    while not trainer.done:
        if stop_now():
            trial.set_user_attr("ended", f"stopped at epoch {trainer.epoch}")
            raise StudyStopped
        try:
            row = trainer.step()
        except KeyboardInterrupt:
            trial.set_user_attr("ended", f"stopped at epoch {trainer.epoch}")
            raise
        if row is None:
            break
        if options.max_steps and trainer.step_count >= options.max_steps:
            trainer.stop()
            trial.set_user_attr("ended", f"cut at this server's limit of {options.max_steps:,} steps")
        losses.append(row.loss)
        if not (trainer.at_epoch_end or trainer.done) or trainer.status == "diverged":
            continue
        value = sum(losses) / len(losses) if goal.column == "loss" else getattr(row, goal.column)
        losses = []
        if math.isfinite(value) and sign * value < best:
            best = sign * value
        value = sign * best if goal.best else value
        progress.epoch, progress.value = trainer.epoch, value
        if on_epoch is not None:
            on_epoch(progress)
        if trainer.epoch % every == 0 and math.isfinite(value):
            trial.report(value, trainer.epoch)
            if trial.should_prune():
                trial.set_user_attr("ended", f"pruned at epoch {trainer.epoch}")
                raise optuna.TrialPruned
    if trainer.status == "diverged":
        trial.set_user_attr("ended", f"diverged at step {trainer.diverged_at}")
        raise optuna.TrialPruned  # a blown-up run is hopeless, as a pruned one is
    if not math.isfinite(value):
        trial.set_user_attr("ended", "no finite value")
        raise optuna.TrialPruned
    return value


def trials_frame(study: optuna.Study, space: Space) -> pd.DataFrame:
    """One row per trial: number, state, value, the searched settings, seconds, how it ended."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        ended = t.user_attrs.get("ended", "")
        state = "stopped" if ended.startswith("stopped") else t.state.name.lower()
        seconds = t.duration.total_seconds() if t.duration is not None else math.nan
        rows.append({"trial": t.number, "state": state,
                     "value": t.value if t.value is not None else math.nan,
                     **{name: clean(t.params.get(name)) for name in space},
                     "seconds": round(seconds, 2), "epochs": t.last_step or 0, "ended": ended,
                     "worker": t.user_attrs.get("worker", "")})
    columns = ["trial", "state", "value", *space, "seconds", "epochs", "ended", "worker"]
    return pd.DataFrame(rows, columns=columns)


def best_config(study: optuna.Study, base: RunConfig) -> RunConfig | None:
    """The base config with the best finished trial's values (None before any finished)."""
    try:
        best = study.best_trial
    except ValueError:
        return None
    return apply(base, best.params)


def importances(study: optuna.Study) -> dict[str, float]:
    """Optuna's parameter importances (PED-ANOVA, no extra packages), once there are enough
    finished trials; empty before (or when every trial drew the same values)."""
    finished = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if len(finished) < IMPORTANCE_AFTER:
        return {}
    try:
        found = optuna.importance.get_param_importances(
            study, evaluator=optuna.importance.PedAnovaImportanceEvaluator())
    except (ValueError, RuntimeError, ZeroDivisionError):
        return {}
    return {k: float(v) for k, v in found.items() if math.isfinite(v)}


def study_view(study: optuna.Study, base: RunConfig, space: Space) -> dict[str, Any]:
    """What a page shows of a study: the trials, the best trial's value and config, importances."""
    best = best_config(study, base)
    return {"trials": trials_frame(study, space), "importances": importances(study),
            "best_value": study.best_value if best is not None else None,
            "best_trial": study.best_trial.number if best is not None else None,
            "best_config": best, "direction": study.direction.name.lower()}
