"""The options every CLI command that builds a config shares (--config, --url, --image, --set,
--bug), and the one config they layer into. Its own module so `cli` and `cli_tune` both import it
and neither imports the other's back."""

from __future__ import annotations

import argparse
import sys
import urllib.parse
from pathlib import Path
from typing import Any

from playground import sprites
from playground.bugs import BUGS
from playground.config import RunConfig, parse_assignments
from playground.config_files import read_config_file
from playground.run_folder import note


def add_config_args(p: argparse.ArgumentParser) -> None:
    """The options every command that builds a config shares."""
    p.add_argument("--config", type=Path, help="a config file: .json (e.g. from an earlier run) or "
                   ".yaml/.yml, flat keys or the course's nested training: section")
    p.add_argument("--url", help="a share link from the app; its settings are replayed")
    p.add_argument("--image", type=Path, help="train on your own image file (PNG, JPEG, GIF, "
                   "WEBP, BMP)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override one setting, e.g. --set lr=0.01 (repeatable)")
    p.add_argument("--bug", metavar="NAME", help="run the loop with a classic mistake in it (the "
                   "same as --set bug=NAME): " + ", ".join(BUGS))


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """Layer defaults < --config < --url < --image < --set into one validated config."""
    data: dict[str, Any] = {}
    if args.config:
        cfg, device = read_config_file(args.config)
        data.update(cfg.to_dict())
        if device is not None and getattr(args, "device", "") is None:
            args.device = device  # the file's device, unless --device was given
    if args.url:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(args.url).query)
        cfg, problems = RunConfig.from_query(query)
        for problem in problems:
            print(f"warning: share link: {problem}", file=sys.stderr)
        data.update(cfg.to_query())
    data.update(parse_assignments(args.set + ([f"bug={args.bug}"] if args.bug else [])))
    if args.image:
        size = int(data.get("size", RunConfig().size))
        arr, notes = sprites.read_image(_read_bytes(args.image), size)
        for line in notes:
            note(f"note: {line}")
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
