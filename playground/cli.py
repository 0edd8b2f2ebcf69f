"""Command line: `python -m playground sprites | train`, the same core the app uses, headless."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from playground import checkpoints, cli_tune, sprites
from playground.cli_config import add_config_args, config_from_args
from playground.config import ConfigError
from playground.devices import DEVICES
from playground.engine import Trainer, TrainResult, build
from playground.lessons import evaluation
from playground.models import num_parameters
from playground.run_folder import Watch, final_line, note, save_initial, write_run
from playground.warmup import configure_torch


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (2 for a bad config or image)."""
    args = _parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, sprites.SpriteError) as exc:  # CheckpointError is a ConfigError
        print(f"error: {exc}", file=sys.stderr)
        return 2


def run() -> None:
    """The `pixel-playground` console script: `python -m playground` under its own name."""
    sys.exit(main())


def _parser() -> argparse.ArgumentParser:
    """The argument parser with its sub-commands."""
    p = argparse.ArgumentParser(prog="python -m playground",
                                description="Train a model to reproduce a pixel-art sprite.")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("sprites", help="list the built-in sprite gallery")
    s.set_defaults(func=cmd_sprites)
    t = sub.add_parser("train", help="train one run and write its results to --out")
    add_config_args(t)
    t.add_argument("--out", type=Path, required=True, help="folder for config, history, images")
    _add_run_options(t)
    t.set_defaults(func=cmd_train)
    r = sub.add_parser("resume", help="carry a run on from its final.pt, exactly where it stopped")
    r.add_argument("checkpoint", type=Path, help="a run folder (its final.pt) or a final.pt file")
    r.add_argument("--epochs", type=int, help="a new total of epochs (to carry a finished run on)")
    r.add_argument("--out", type=Path, help="folder for the results (default: the checkpoint's)")
    _add_run_options(r)
    r.set_defaults(func=cmd_resume)
    _add_race(sub)
    _add_lr_find(sub)
    _add_evaluate(sub)
    cli_tune.add_tune(sub)
    return p


def _add_run_options(p: argparse.ArgumentParser) -> None:
    """Options of every command that trains one run."""
    p.add_argument("--threads", type=int, default=1, help="torch threads (1 suits tiny models)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--steps", type=int, help="stop after this many optimizer steps (the run "
                   "stays resumable: python -m playground resume OUT)")
    p.add_argument("--tensorboard", type=Path, metavar="DIR", help="write TensorBoard events "
                   "live into DIR (then: tensorboard --logdir DIR)")
    p.add_argument("--device", choices=list(DEVICES), help="where to train: auto takes a CUDA "
                   "GPU, else Apple's MPS, else the CPU (default: the config file's device, else "
                   "cpu, which gives the app's numbers exactly)")


def _add_race(sub: argparse._SubParsersAction) -> None:
    """`race`: 2 to 8 variants of one config from the same weights, with a leaderboard."""
    r = sub.add_parser("race", help="race 2 to 8 variants of one config from the same weights")
    add_config_args(r)
    r.add_argument("--vary", action="append", default=[], required=True,
                   metavar="KEY=V1,V2,...", help="values to race (repeatable: the cartesian "
                   "product, at most 8); betas pairs are separated by ';'")
    r.add_argument("--out", type=Path, required=True, help="folder for histories and leaderboard")
    r.add_argument("--threshold", type=float, default=None,
                   help="loss for steps_to_threshold (default: 10%% of each contender's first loss)")
    r.add_argument("--threads", type=int, default=1, help="torch threads (1 suits tiny models)")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.set_defaults(func=cmd_race)


def _add_lr_find(sub: argparse._SubParsersAction) -> None:
    """`lr-find`: the learning-rate range test on a config."""
    f = sub.add_parser("lr-find", help="learning-rate range test: suggest a learning rate")
    add_config_args(f)
    f.add_argument("--start", type=float, default=1e-6, help="first learning rate of the sweep")
    f.add_argument("--end", type=float, default=10.0, help="last learning rate of the sweep")
    f.add_argument("--steps", type=int, default=150, help="optimizer steps (one per LR)")
    f.add_argument("--out", type=Path, default=Path("."), help="folder for lr_find.csv")
    f.add_argument("--threads", type=int, default=1, help="torch threads (1 suits tiny models)")
    f.set_defaults(func=cmd_lr_find)


def cmd_sprites(args: argparse.Namespace) -> int:
    """Print the gallery: name, size, colours and a line about each."""
    for name, sprite in sprites.SPRITES.items():
        colours = len(sprite.palette)
        print(f"{name:<12} {sprite.size}x{sprite.size}  {colours} colours  {sprite.description}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """Train one run with a progress bar and write every artefact into --out."""
    cfg = config_from_args(args)
    configure_torch(args.threads)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    built = build(cfg)
    trainer = Trainer(cfg, built, device=args.device or "cpu")
    note(f"{cfg.model} model, {num_parameters(built.model):,} parameters, {cfg.optimizer} "
         f"lr={cfg.lr:g}, {cfg.total_steps:,} steps on {trainer.b.device}")
    save_initial(out / "initial.pt", trainer)
    return _train_and_write(trainer, args, out)


def cmd_resume(args: argparse.Namespace) -> int:
    """Carry a run on from its final.pt (a stopped run, or a finished one given more epochs)."""
    path: Path = args.checkpoint
    if path.is_dir():
        path = path / "final.pt"
    saved = checkpoints.load(path)
    trainer = checkpoints.resume(saved, args.epochs, args.device)
    configure_torch(args.threads)
    out: Path = args.out or path.parent
    out.mkdir(parents=True, exist_ok=True)
    note(f"resuming at step {trainer.step_count:,} of {trainer.cfg.total_steps:,} "
         f"(epoch {trainer.epoch:,})")
    return _train_and_write(trainer, args, out, checkpoints.saved_frames(saved))


def _train_and_write(trainer: Trainer, args: argparse.Namespace, out: Path,
                     frames: checkpoints.Frames = ()) -> int:
    """Step the run to its end (or --steps), watching every step, then write the folder."""
    watch = Watch(trainer, args.tensorboard, frames)
    try:
        result = _run_with_progress(trainer, watch, quiet=args.quiet, steps=args.steps)
    finally:
        events = watch.close()
    write_run(out, result, trainer, watch)
    note(final_line(result, out))
    if result.reason:
        note(result.reason)
    if trainer.status == "stopped":
        note(f"carry it on with: python -m playground resume {out}")
    if events is not None:
        note(f"TensorBoard: tensorboard --logdir {events.parent}")
    if trainer.b.test is not None:  # a classify run with a test split: report on it once, now
        report = evaluation.evaluate_run(out)
        note(f"test accuracy {report['accuracy']:.1%} ({report['checkpoint']}) -> "
             f"{out / 'evaluation.json'}")
    return 0


def _run_with_progress(trainer: Trainer, watch: Watch, quiet: bool,
                       steps: int | None = None) -> TrainResult:
    """Step to the end (or `steps` more steps), showing step, loss, lr in a tqdm bar; Ctrl-C
    stops the run and keeps it resumable."""
    from tqdm import tqdm

    stop_at = trainer.step_count + steps if steps else None
    bar = tqdm(total=trainer.cfg.total_steps, initial=trainer.step_count, disable=quiet,
               unit="step", dynamic_ncols=True)
    try:
        while not trainer.done:
            if stop_at is not None and trainer.step_count >= stop_at:
                trainer.stop()
                break
            row = trainer.step()
            if row is not None:
                watch.seen(row)
                bar.update(1)
                if row.step % 25 == 0 or trainer.done:
                    bar.set_postfix(loss=f"{row.loss:.4g}", lr=f"{trainer.lr:.3g}", refresh=False)
    except KeyboardInterrupt:
        trainer.stop()
    finally:
        bar.close()
    return trainer.result()


def cmd_race(args: argparse.Namespace) -> int:
    """Race the --vary product of a config; write each history, final image and a leaderboard."""
    from playground.compare import Race, leaderboard, parse_vary, variants

    configs = variants(config_from_args(args), parse_vary(args.vary))
    configure_torch(args.threads)
    contest = Race(configs)
    print(f"racing {len(configs)} contenders, {contest.total_steps:,} steps each: "
          f"{', '.join(contest.names)}", file=sys.stderr)
    results = _race_with_progress(contest, quiet=args.quiet)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    for name, result in zip(contest.names, results, strict=True):
        folder = out / _slug(name)
        folder.mkdir(exist_ok=True)
        (folder / "config.json").write_text(result.config.to_json() + "\n")
        result.history.to_csv(folder / "history.csv", index=False)
        (folder / "final.png").write_bytes(sprites.to_png_bytes(result.image))
    board = leaderboard(results, contest.names, args.threshold)
    board.to_csv(out / "leaderboard.csv", index=False)
    print(board.to_string(index=False))
    return 0


def _race_with_progress(contest: Any, quiet: bool) -> list[TrainResult]:
    """Step the race to the end under a tqdm bar (Ctrl-C stops it and keeps what was done)."""
    from tqdm import tqdm

    from playground.compare import CHUNK

    bar = tqdm(total=contest.total_steps, disable=quiet, unit="step", dynamic_ncols=True)
    try:
        while not contest.done:
            bar.update(len(contest.advance(CHUNK)))
    except KeyboardInterrupt:
        contest.stop()
    finally:
        bar.close()
    return contest.results()


def _slug(name: str) -> str:
    """A contender's name as a folder name: 'adam lr=0.01' -> 'adam_lr=0.01'."""
    return "".join(c if c.isalnum() or c in ".=-," else "_" for c in name)


def cmd_lr_find(args: argparse.Namespace) -> int:
    """Run the LR range test, print the suggestion and write lr_find.csv."""
    from playground.compare.lr_finder import lr_find

    cfg = config_from_args(args)
    configure_torch(args.threads)
    result = lr_find(cfg, start=args.start, end=args.end, steps=args.steps)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "lr_find.csv"
    result.frame.to_csv(path, index=False)
    shown = {k: (f"{v:.3g}" if isinstance(v, float) else v) for k, v in result.summary().items()}
    print(f"suggested lr: {shown['suggestion']} (valley {shown['valley']}, steepest "
          f"{shown['steep']}; your lr {cfg.lr:g}); {shown['points']} points, sweep ended: "
          f"{result.stopped} -> {path}")
    return 0


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    """`evaluate`: a finished classify run's test-set report, from its folder."""
    e = sub.add_parser("evaluate", help="evaluate a classify run's checkpoint on its test split")
    e.add_argument("run_dir", type=Path, help="a folder written by `train --out`")
    e.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Print the test-set report of RUN_DIR's best (else final) checkpoint and write
    evaluation.json and test_confusion.csv next to it."""
    try:
        report = evaluation.evaluate_run(args.run_dir)
    except evaluation.EvaluationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(evaluation.format_report(report))
    print(f"-> {args.run_dir / 'evaluation.json'}", file=sys.stderr)
    return 0
