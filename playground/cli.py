"""Command line: `python -m playground sprites | train`, the same core the app uses, headless."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.parse
from pathlib import Path
from typing import Any

import numpy as np
import torch

from playground import sprites
from playground.config import ConfigError, RunConfig, parse_assignments
from playground.engine import Trainer, TrainResult, build, configure_torch
from playground.models import num_parameters


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (2 for a bad config or image)."""
    args = _parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, sprites.SpriteError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


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
    t.add_argument("--threads", type=int, default=1, help="torch threads (1 suits tiny models)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)
    return p


def add_config_args(p: argparse.ArgumentParser) -> None:
    """The options every command that builds a config shares."""
    p.add_argument("--config", type=Path, help="a config.json (e.g. from an earlier run)")
    p.add_argument("--url", help="a share link from the app; its settings are replayed")
    p.add_argument("--image", type=Path, help="train on your own image file (PNG, JPEG, GIF, "
                   "WEBP, BMP)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override one setting, e.g. --set lr=0.01 (repeatable)")


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """Layer defaults < --config < --url < --image < --set into one validated config."""
    data: dict[str, Any] = {}
    if args.config:
        try:
            data.update(RunConfig.from_json(args.config.read_text()).to_dict())
        except OSError as exc:
            raise ConfigError(f"cannot read config file {args.config}: {exc.strerror}") from None
    if args.url:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(args.url).query)
        cfg, problems = RunConfig.from_query(query)
        for problem in problems:
            print(f"warning: share link: {problem}", file=sys.stderr)
        data.update(cfg.to_query())
    data.update(parse_assignments(args.set))
    if args.image:
        size = int(data.get("size", RunConfig().size))
        arr, notes = sprites.read_image(_read_bytes(args.image), size)
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
        data.update(sprite="custom", pixels=sprites.encode_sprite(arr))
    return RunConfig.from_dict(data)


def _read_bytes(path: Path) -> bytes:
    """Read a user's file, refusing huge ones before reading them."""
    try:
        if path.stat().st_size > sprites.MAX_UPLOAD_BYTES:
            raise sprites.SpriteError(f"{path.name} is larger than the "
                                      f"{sprites.MAX_UPLOAD_BYTES // 2**20} MB limit.")
        return path.read_bytes()
    except OSError as exc:
        raise sprites.SpriteError(f"cannot read {path}: {exc.strerror}") from None


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
    trainer = Trainer(cfg, built)
    print(f"{cfg.model} model, {num_parameters(built.model):,} parameters, {cfg.optimizer} "
          f"lr={cfg.lr:g}, {cfg.total_steps:,} steps", file=sys.stderr)
    save_checkpoint(out / "initial.pt", trainer)
    result = _run_with_progress(trainer, quiet=args.quiet)
    write_run(out, result, trainer)
    s = result.summary()
    print(f"{s['status']}: {s['steps']} steps, final loss {s['final_loss']}, "
          f"{s['steps_per_second']} steps/s -> {out}", file=sys.stderr)
    if result.reason:
        print(result.reason, file=sys.stderr)
    return 0


def _run_with_progress(trainer: Trainer, quiet: bool) -> TrainResult:
    """Step to the end, showing step, loss, lr and steps/s in a tqdm bar."""
    from tqdm import tqdm

    bar = tqdm(total=trainer.cfg.total_steps, disable=quiet, unit="step", dynamic_ncols=True)
    try:
        while not trainer.done:
            row = trainer.step()
            if row is not None:
                bar.update(1)
                if row[0] % 25 == 0 or trainer.done:
                    bar.set_postfix(loss=f"{row[2]:.4g}", lr=f"{trainer.lr:.3g}", refresh=False)
    except KeyboardInterrupt:
        trainer.stop()
    finally:
        bar.close()
    return trainer.result()


def save_checkpoint(path: Path, trainer: Trainer) -> None:
    """State dicts and the config only, so `torch.load(weights_only=True)` can read it safely."""
    torch.save({"model": trainer.b.model.state_dict(),
                "optimizer": trainer.b.optimizer.state_dict(),
                "config": trainer.cfg.to_dict()}, path)


def write_run(out: Path, result: TrainResult, trainer: Trainer) -> None:
    """config.json, history.csv, summary.json, exact and upscaled PNGs, final checkpoint."""
    (out / "config.json").write_text(result.config.to_json() + "\n")
    result.history.to_csv(out / "history.csv", index=False)
    (out / "summary.json").write_text(json.dumps(result.summary(), indent=2) + "\n")
    target = sprites.from_tensor(trainer.b.target)
    (out / "target.png").write_bytes(sprites.to_png_bytes(target))
    (out / "final.png").write_bytes(sprites.to_png_bytes(result.image))
    factor = max(1, 256 // target.shape[0])
    pair = np.concatenate([sprites.upscale(target, factor), sprites.upscale(result.image, factor)],
                          axis=1)
    (out / "preview.png").write_bytes(sprites.to_png_bytes(pair))
    save_checkpoint(out / "final.pt", trainer)
