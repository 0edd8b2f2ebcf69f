"""`python -m playground tune`: an Optuna search over a config's settings, with a progress bar; writes
trials.csv, best.json (a config `train --config` accepts) and importances.csv. With --storage, any
number of these processes, on any number of machines, work on one study."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from playground.cli_config import add_config_args, config_from_args
from playground.compare import tune
from playground.compare.tune_space import Space, parse_search
from playground.config import ConfigError, RunConfig
from playground.engine import train
from playground.run_folder import note
from playground.warmup import configure_torch

if TYPE_CHECKING:
    from optuna import Study

SHOW_EVERY = 0.2  # seconds between progress-bar redraws inside a trial


def add_tune(sub: argparse._SubParsersAction) -> None:
    """The `tune` sub-command's options."""
    t = sub.add_parser("tune", help="search settings with Optuna (TPE, pruning); --storage shares "
                       "one study across processes and machines")
    add_config_args(t)
    t.add_argument("--search", action="append", default=[], required=True,
                   metavar="KEY=LO:HI[:log] | KEY=A,B,C", help="a setting to search: a range "
                   "(log-scaled with :log) or a set of choices (repeatable); beta1, beta2 for "
                   "Adam's betas")
    t.add_argument("--trials", type=int, default=20, help="trials this process runs (default 20)")
    t.add_argument("--timeout", type=float, help="seconds for this process; a trial still running "
                   "then is stopped")
    t.add_argument("--objective", choices=list(tune.OBJECTIVES), default="final_loss",
                   help="; ".join(f"{k}: {o.doc}" for k, o in tune.OBJECTIVES.items()))
    t.add_argument("--pruner", choices=list(tune.PRUNERS), default="median",
                   help="; ".join(f"{k}: {doc}" for k, doc in tune.PRUNERS.items()))
    t.add_argument("--sampler-seed", type=int, help="the TPE sampler's seed: the same seed gives "
                   "the same trials (default 0; with --storage, one from the process id, so "
                   "processes sharing a study do not all propose the same first trials)")
    t.add_argument("--storage", help="an Optuna RDB storage URL shared by every process of the "
                   "study, e.g. sqlite:///tune.db or postgresql://user:pw@host/db (default: in "
                   "memory, this process only)")
    t.add_argument("--study", default="playground", help="the study's name in --storage")
    t.add_argument("--out", type=Path, required=True, help="folder for trials.csv, best.json, "
                   "importances.csv")
    t.add_argument("--threads", type=int, default=1, help="torch threads (1 suits tiny models)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_tune)


def cmd_tune(args: argparse.Namespace) -> int:
    """Run the study under a progress bar, then write its trials, best config and importances."""
    import optuna
    from tqdm import tqdm

    base = config_from_args(args)
    space = parse_search(args.search, base)
    if args.trials < 1:
        raise ConfigError(f"--trials: {args.trials} is not allowed; expected 1 or more")
    seed = args.sampler_seed
    if seed is None:
        seed = os.getpid() % 2**31 if args.storage else 0
    options = tune.TuneOptions(trials=args.trials, timeout=args.timeout, objective=args.objective,
                               pruner=args.pruner, seed=seed, storage=args.storage,
                               study=args.study)
    configure_torch(args.threads)
    train(base.replace(epochs=1))  # torch's one-off first-step cost, so trial 0's time is its own
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # a cut trial is told in trials.csv
    where = f", study {args.study!r} in {_shown(args.storage)}" if args.storage else ""
    note(f"searching {', '.join(p.text() for p in space.values())} on {base.model} "
         f"({base.epochs} epochs), {options.objective}, {options.pruner} pruner, "
         f"sampler seed {seed}{where}")
    bar = tqdm(total=args.trials, disable=args.quiet, unit="trial", dynamic_ncols=True)
    shown = [0.0]

    def on_epoch(p: tune.Progress) -> None:
        if time.monotonic() - shown[0] >= SHOW_EVERY:
            shown[0] = time.monotonic()
            bar.set_postfix(trial=p.trial, epoch=f"{p.epoch}/{p.epochs}", value=f"{p.value:.4g}")

    def on_trial(study: optuna.Study) -> None:
        bar.update(1)
        if tune.best_config(study, base) is not None:
            bar.set_postfix(best=f"{study.best_value:.4g}")

    try:  # Ctrl-C stops the running trial; the study keeps what was done
        study = tune.run_study(base, space, options, on_trial=on_trial, on_epoch=on_epoch)
    finally:
        bar.close()
    return write_study(study, base, space, args.out)


def _shown(url: str) -> str:
    """A storage URL as printed: its password hidden."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def write_study(study: Study, base: RunConfig, space: Space, out: Path) -> int:
    """trials.csv (every trial of the study), best.json and importances.csv; a summary on stdout."""
    out.mkdir(parents=True, exist_ok=True)
    frame = tune.trials_frame(study, space)
    frame.to_csv(out / "trials.csv", index=False)
    counts = frame["state"].value_counts().to_dict()
    best = tune.best_config(study, base)
    if best is None:
        note(f"no trial finished ({counts}); nothing to call best -> {out / 'trials.csv'}")
        return 1
    (out / "best.json").write_text(best.to_json() + "\n")
    ranks = tune.importances(study)
    lines = ["param,importance", *(f"{k},{v:.4f}" for k, v in ranks.items())]
    (out / "importances.csv").write_text("\n".join(lines) + "\n")
    params = ", ".join(f"{k}={v}" for k, v in study.best_trial.params.items())
    print(f"best value {study.best_value:.6g} (trial {study.best_trial.number}: {params})")
    print(f"{len(frame)} trials in the study: "
          + ", ".join(f"{n} {state}" for state, n in sorted(counts.items())))
    if ranks:
        print("importances: " + ", ".join(f"{k} {v:.2f}" for k, v in ranks.items()))
    note(f"-> {out / 'trials.csv'}, {out / 'best.json'} (train it: python -m playground train "
         f"--config {out / 'best.json'} --out RUN), {out / 'importances.csv'}")
    return 0
