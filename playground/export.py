"""Downloads of a run as bytes: CSV, JSON, PNG, GIF, checkpoint, TensorBoard log, train.py, one zip.

Pure functions of a config, history rows, images and (for the checkpoint) a model, so the app, the
CLI and the tests share them. Nothing here imports Streamlit; nothing here reads a user's file.
"""

from __future__ import annotations

import ast
import base64
import functools
import importlib.util
import inspect
import io
import json
import re
import tempfile
import uuid
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image, ImageDraw, ImageFont
from torch import nn

from playground import ingredients, models, sprites
from playground.config import FIELDS, RunConfig
from playground.history import COLUMNS, Table
from playground.losses import LOSSES
from playground.optim import make_optimizer

Frames = Sequence[tuple[int, np.ndarray]]
Rows = Table | pd.DataFrame | Sequence[Sequence[Any]]

GIF_FRAME_MS = 120  # each frame of the forming animation
GIF_FINAL_MS = 2000  # the finished sprite stays up longer before the loop restarts
GIF_MAX_FRAMES = 120  # more frames are thinned evenly (the first and last are kept)
TENSORBOARD_HINT = ("TensorBoard logs need the optional `tensorboard` package: "
                    "`pip install tensorboard`, then unzip and run `tensorboard --logdir <folder>`.")
_ZIP_TIME = (2024, 1, 1, 0, 0, 0)  # fixed timestamps: the same run gives the same zip bytes


# Tables and pictures --------------------------------------------------------------------------
def history_csv(rows_or_df: Rows, columns: Sequence[str] = COLUMNS) -> bytes:
    """Every history row as CSV (step, epoch, loss, lr, grad_norm, update_ratio, seconds)."""
    return history_frame(rows_or_df, columns).to_csv(index=False).encode("utf-8")


def history_frame(rows_or_df: Rows, columns: Sequence[str] = COLUMNS) -> pd.DataFrame:
    """History rows (tuples as the trainer and runner keep them) as a DataFrame."""
    if isinstance(rows_or_df, pd.DataFrame):
        return rows_or_df
    if isinstance(rows_or_df, Table):
        return rows_or_df.frame()
    return pd.DataFrame(list(rows_or_df), columns=list(columns))


def config_json(cfg: RunConfig) -> bytes:
    """The config as JSON, re-loadable with `RunConfig.from_json` or `--config`."""
    return (cfg.to_json() + "\n").encode("utf-8")


def sprite_png(arr: np.ndarray, scale: int = 1) -> bytes:
    """Exact-pixel PNG; scale > 1 enlarges with nearest neighbour so pixel art stays crisp."""
    return sprites.to_png_bytes(sprites.upscale(np.asarray(arr), scale))


def animation_gif(frames: Frames, scale: int = 8, frame_ms: int = GIF_FRAME_MS,
                  final_ms: int = GIF_FINAL_MS, label: bool = True) -> bytes:
    """The sprite forming, frame by frame over a light checkerboard, looping forever."""
    frames = _gif_frames(frames)
    pictures = [_gif_picture(arr, step, scale, label) for step, arr in frames]
    durations = [frame_ms] * (len(pictures) - 1) + [final_ms]
    buf = io.BytesIO()
    pictures[0].save(buf, format="GIF", save_all=True, append_images=pictures[1:],
                     duration=durations, loop=0, disposal=1)
    return buf.getvalue()


def _gif_frames(frames: Frames) -> list[tuple[int, np.ndarray]]:
    """Frames of the last frame's shape, in step order, thinned evenly to GIF_MAX_FRAMES."""
    frames = sorted(((int(s), np.asarray(a)) for s, a in frames), key=lambda f: f[0])
    if not frames:
        raise ValueError("an animation needs at least one frame")
    shape = frames[-1][1].shape
    frames = [f for f in frames if f[1].shape == shape]
    if len(frames) > GIF_MAX_FRAMES:
        keep = np.unique(np.linspace(0, len(frames) - 1, GIF_MAX_FRAMES).round().astype(int))
        frames = [frames[i] for i in keep]
    return frames


def _gif_picture(arr: np.ndarray, step: int, scale: int, label: bool) -> Image.Image:
    """One frame: the sprite on a checkerboard (one square per pixel), upscaled, a step caption.

    The palette is found at the sprite's own size and only the indices are upscaled, which keeps a
    long animation of a 64-pixel sprite fast."""
    small = sprites.checkerboard_composite(arr, cell=1)
    index, palette = _palette(small, reserve=2 if label else 0)
    index = sprites.upscale(index, scale)
    if label:
        ink = _caption(f"step {step:,}", index.shape[1])
        palette = np.concatenate([palette, [_PAPER, _INK]]).astype(np.uint8)
        index = np.concatenate([index, np.where(ink, len(palette) - 1, len(palette) - 2)], axis=0)
    img = Image.fromarray(index.astype(np.uint8), mode="P")
    img.putpalette(palette.tobytes())
    return img


_PAPER, _INK = (255, 255, 255), (40, 40, 40)  # the caption's two colours


def _palette(rgb: np.ndarray, reserve: int) -> tuple[np.ndarray, np.ndarray]:
    """(index, palette) of an RGB image: exact when 256 - reserve colours suffice, else median cut."""
    keys = (rgb[..., 0].astype(np.uint32) << 16) | (rgb[..., 1].astype(np.uint32) << 8) | rgb[..., 2]
    colours, index = np.unique(keys, return_inverse=True)
    if len(colours) <= 256 - reserve:
        palette = np.stack([colours >> 16, (colours >> 8) & 255, colours & 255], axis=1)
        return index.reshape(rgb.shape[:2]), palette.astype(np.uint8)
    quantized = Image.fromarray(rgb).quantize(256 - reserve, method=Image.Quantize.MEDIANCUT,
                                              dither=Image.Dither.NONE)
    palette = np.array(quantized.getpalette()[:3 * (256 - reserve)], np.uint8).reshape(-1, 3)
    return np.asarray(quantized), palette


def _caption(text: str, width: int) -> np.ndarray:
    """Where the caption's un-antialiased text has ink, as a (14, width) boolean mask."""
    strip = Image.new("L", (width, 14), 255)
    draw = ImageDraw.Draw(strip)
    draw.fontmode = "1"
    draw.text((3, 1), text, fill=0, font=ImageFont.load_default(11))
    return np.asarray(strip) < 128


# Checkpoint and TensorBoard -------------------------------------------------------------------
def checkpoint_bytes(source: Any, optimizer: torch.optim.Optimizer | None = None,
                     config: RunConfig | None = None) -> bytes:
    """State dicts and the config only, so `torch.load(..., weights_only=True)` reads it safely.

    `source` is a Trainer, a Built (from `build`), or a model with `optimizer` and `config` given.
    """
    model, optimizer, config = _checkpoint_parts(source, optimizer, config)
    buf = io.BytesIO()
    torch.save({"model": model.state_dict(),
                "optimizer": optimizer.state_dict() if optimizer is not None else None,
                "config": config.to_dict() if config is not None else None}, buf)
    return buf.getvalue()


def _checkpoint_parts(source: Any, optimizer: Any, config: Any) -> tuple[nn.Module, Any, Any]:
    """Unpack a Trainer (`.b`, `.cfg`), a Built (`.model`, `.optimizer`, `.config`) or a model."""
    built = getattr(source, "b", source)
    if isinstance(built, ingredients.Built):
        return built.model, optimizer or built.optimizer, config or built.config
    if isinstance(source, nn.Module):
        return source, optimizer, config
    raise TypeError(f"checkpoint_bytes needs a Trainer, a Built or an nn.Module, "
                    f"not {type(source).__name__}")


def tensorboard_available() -> bool:
    """Whether the optional `tensorboard` package is installed (checked without importing it)."""
    try:
        return importlib.util.find_spec("tensorboard") is not None
    except (ImportError, ValueError):
        return False


def tensorboard_log(rows: Rows, directory: str | Path, columns: Sequence[str] = COLUMNS) -> Path | None:
    """Write loss, lr and grad_norm per step as a TensorBoard event file; None without tensorboard."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    df = history_frame(rows, columns)
    suffix = f".{uuid.uuid4().hex[:8]}"
    writer = SummaryWriter(log_dir=str(directory), filename_suffix=suffix)
    try:
        for step, loss, lr, grad_norm in df[["step", "loss", "lr", "grad_norm"]].itertuples(
                index=False):
            writer.add_scalar("loss", float(loss), int(step))
            writer.add_scalar("lr", float(lr), int(step))
            writer.add_scalar("grad_norm", float(grad_norm), int(step))
    finally:
        writer.close()
    return next(Path(directory).glob(f"events.out.tfevents.*{suffix}"))


def tensorboard_zip(rows: Rows, run_name: str = "run") -> bytes | None:
    """The TensorBoard log as a zip holding `<run_name>/events...`; None without tensorboard."""
    with tempfile.TemporaryDirectory() as tmp:
        path = tensorboard_log(rows, Path(tmp) / run_name)
        if path is None:
            return None
        return bundle_zip({f"{run_name}/{path.name}": path.read_bytes()})


# The zip --------------------------------------------------------------------------------------
def bundle_zip(parts: Mapping[str, bytes]) -> bytes:
    """A deflated zip of name -> bytes with fixed timestamps (same parts, same bytes)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in parts.items():
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    return buf.getvalue()


def run_files(cfg: RunConfig, target: np.ndarray, rows: Rows,
              final: np.ndarray, frames: Frames = (), checkpoint: bytes | None = None,
              summary: Mapping[str, Any] | None = None) -> dict[str, bytes]:
    """Every download of one run by file name: what "Download all" zips."""
    frames = list(frames) or [(_last_step(rows), final)]
    parts = {
        "history.csv": history_csv(rows),
        "config.json": config_json(cfg),
        "final.png": sprite_png(final),
        "final_x8.png": sprite_png(final, 8),
        "target.png": sprite_png(target),
        "forming.gif": animation_gif(frames, scale=min(16, max(2, 256 // final.shape[0]))),
    }
    if checkpoint is not None:
        parts["checkpoint.pt"] = checkpoint
    parts["train.py"] = train_script(cfg, target).encode("utf-8")
    parts["README.txt"] = readme_text(cfg, parts, summary).encode("utf-8")
    return parts


def run_bundle(cfg: RunConfig, target: np.ndarray, rows: Rows,
               final: np.ndarray, frames: Frames = (), checkpoint: bytes | None = None,
               summary: Mapping[str, Any] | None = None) -> bytes:
    """The "Download all" zip: history, config, pictures, animation, checkpoint, train.py, README."""
    return bundle_zip(run_files(cfg, target, rows, final, frames, checkpoint, summary))


def _last_step(rows: Rows) -> int:
    """The step of the newest history row (0 before any step)."""
    if isinstance(rows, pd.DataFrame):
        return int(rows["step"].iloc[-1]) if len(rows) else 0
    if isinstance(rows, Table):
        return int(rows["step"][-1]) if len(rows) else 0
    return int(rows[-1][0]) if len(rows) else 0


_FILE_NOTES = {
    "history.csv": "one row per optimizer step: step, epoch, loss, lr, grad_norm, update_ratio "
                   "(every 10th step), seconds",
    "config.json": "every setting of the run; `python -m playground train --config config.json` "
                   "re-runs it",
    "final.png": "the learned sprite at its exact pixels",
    "final_x8.png": "the same, 8x larger (nearest neighbour, no blur)",
    "target.png": "the sprite the model was trained to reproduce",
    "forming.gif": "the sprite forming during training (steps in the caption)",
    "checkpoint.pt": "model and optimizer state dicts plus the config; load with "
                     "torch.load('checkpoint.pt', weights_only=True)",
    "train.py": "the same run as a standalone plain-PyTorch script (see below)",
}


def readme_text(cfg: RunConfig, parts: Mapping[str, bytes],
                summary: Mapping[str, Any] | None = None) -> str:
    """README.txt of the zip: what each file is and how to run train.py."""
    lines = ["Pixel Playground run", "====================", "",
             f"model={cfg.model} loss={cfg.loss} optimizer={cfg.optimizer} lr={cfg.lr:g} "
             f"schedule={cfg.schedule} epochs={cfg.epochs} seed={cfg.seed} size={cfg.size}"]
    if summary:
        lines.append(", ".join(f"{k}: {v}" for k, v in summary.items() if v not in (None, "")))
    lines += ["", "Files", "-----"]
    lines += [f"{name:<14} {_FILE_NOTES.get(name, '')}" for name in parts if name in _FILE_NOTES]
    if "checkpoint.pt" not in parts:
        lines.append("(no checkpoint.pt: a checkpoint is taken only while the run is not training)")
    lines += ["", "Running train.py", "----------------",
              "    pip install torch tqdm        # tqdm is optional",
              "    python train.py               # the whole run",
              "    python train.py --steps 100   # only the first 100 optimizer steps",
              "",
              "It needs only PyTorch, prints the loss as it goes and writes losses.csv and final.png.",
              "Same seed, same data order, same optimizer and schedule: on the same kind of machine",
              "its losses match history.csv step for step (learning-rate changes made by hand",
              "during the run are not replayed).", ""]
    return "\n".join(lines)


# train.py -------------------------------------------------------------------------------------
_SPRITE_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_HELPER_CONSTANTS = ("CHANNELS", "ACTIVATIONS")

_SCHEDULERS = {  # mirrors playground/schedules.py; the tests compare the LRs step by step
    "constant": "# (no scheduler: the learning rate stays constant)",
    "step": "scheduler = lr_scheduler.StepLR(optimizer, step_size=cfg.step_size, gamma=cfg.gamma)",
    "exponential": "scheduler = lr_scheduler.ExponentialLR(optimizer, gamma=cfg.gamma ** "
                   "(1 / cfg.step_size))",
    "cosine": "scheduler = lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, total_steps),\n"
              "                                           eta_min=min(cfg.min_lr, cfg.lr))",
    "onecycle": "scheduler = lr_scheduler.OneCycleLR(optimizer, max_lr=cfg.lr, "
                "total_steps=max(2, total_steps),\n"
                "                                    cycle_momentum=False)",
    "warmup_cosine": "cosine = lr_scheduler.CosineAnnealingLR(optimizer, "
                     "T_max=max(1, total_steps - cfg.warmup),\n"
                     "                                        eta_min=min(cfg.min_lr, cfg.lr))\n"
                     "warm = lr_scheduler.LinearLR(optimizer, start_factor=0.01, end_factor=1.0,\n"
                     "                             total_iters=cfg.warmup)\n"
                     "scheduler = lr_scheduler.SequentialLR(optimizer, [warm, cosine], "
                     "milestones=[cfg.warmup])",
    "cyclic": "low = cfg.min_lr if 0 < cfg.min_lr < cfg.lr else cfg.lr / 10\n"
              "scheduler = lr_scheduler.CyclicLR(optimizer, base_lr=low, max_lr=cfg.lr,\n"
              "                                  step_size_up=cfg.step_size, cycle_momentum=False)",
    "plateau": "scheduler = lr_scheduler.ReduceLROnPlateau(optimizer, factor=cfg.gamma, "
               "patience=cfg.step_size)",
}


def train_script(cfg: RunConfig, target: np.ndarray) -> str:
    """A standalone train.py (torch only; tqdm optional) that replays this run with plain PyTorch."""
    if getattr(cfg, "task", "generate") != "generate":
        raise ValueError(f"train.py is generated for the sprite task only, not {cfg.task!r}")
    target = np.asarray(target)
    if target.dtype != np.uint8 or target.shape != (cfg.size, cfg.size, 4):
        raise ValueError(f"target must be uint8 ({cfg.size}, {cfg.size}, 4) like the run's sprite, "
                         f"got {target.dtype} {target.shape}")
    body = "\n\n\n".join([_model_code(cfg), _LOADER_INTRO + _source(ingredients.Loader), _HELPERS,
                          _main_code(cfg)])
    referenced = set(re.findall(r"\bcfg\.(\w+)", body))
    used = [name for name in FIELDS if name in referenced]
    sprite = _target_code(target)
    imports = _IMPORTS.format(
        base64="import base64\n" if "base64." in sprite else "",
        scheduler="from torch.optim import lr_scheduler\n" if cfg.schedule != "constant" else "")
    script = _header(cfg) + imports + "\n" + "\n\n\n".join([_settings_code(cfg, used), sprite, body,
                                                               _FOOTER])
    return re.sub(r"^(# .+?) -{3,}$", lambda m: (m.group(1) + " ").ljust(100, "-"), script,
                  flags=re.M)


def _header(cfg: RunConfig) -> str:
    """The docstring: what the script is, how to run it, and what it matches."""
    return f'''#!/usr/bin/env python3
"""Pixel Playground, as plain PyTorch: the code behind the run you just watched.

{models.MODELS[cfg.model].doc}
It learns a {cfg.size}x{cfg.size} sprite with {cfg.optimizer} (lr={cfg.lr:g}), {cfg.loss} loss and \
a {cfg.schedule} schedule for {cfg.epochs} epochs.
The same seed, weights, data order, optimizer and schedule as the app, so on the same kind of
machine its losses match the app's history step for step. (Learning-rate changes made by hand
during the app's run are not replayed.) Generated with torch {torch.__version__.split("+")[0]}.

    pip install torch tqdm          # tqdm is optional: without it the loss is printed as text
    python train.py                 # the whole run
    python train.py --steps 100     # only the first 100 optimizer steps
    python train.py --epochs 1000   # a longer run (the schedule stretches to fit)

Writes losses.csv (step, epoch, loss, lr) and final.png (the learned sprite) into --out.
"""
'''


_IMPORTS = """
from __future__ import annotations

import argparse
{base64}import math
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import torch
from torch import Tensor, nn
{scheduler}"""


def _settings_code(cfg: RunConfig, used: list[str]) -> str:
    """`CONFIG = {...}` with each setting this script reads, under its help text."""
    lines = ["# The run's settings (the app's RunConfig; only those this script uses) ---------",
             "CONFIG = {"]
    for name in used:
        lines.append(f"    # {_first_sentence(FIELDS[name].metadata['help'])}")
        lines.append(f"    {_literal(name)}: {_literal(getattr(cfg, name))},")
    lines += ["}", "RunConfig = SimpleNamespace  # the model classes below take it as `cfg`",
              "cfg = RunConfig(**CONFIG)"]
    return "\n".join(lines)


def _literal(value: Any) -> str:
    """Python source for a setting, with double-quoted strings like the rest of the script."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, tuple):
        return "(" + ", ".join(map(_literal, value)) + ")"
    return repr(value)


def _first_sentence(text: str) -> str:
    """The help text up to its first full stop, for a one-line comment."""
    match = re.match(r"(.+?\.)(\s|$)", text)
    return match.group(1) if match else text


def _target_code(target: np.ndarray) -> str:
    """The sprite as palette + rows of characters (readable), or as compressed bytes when too
    colourful, and `target_image()` converting it exactly like `sprites.to_tensor`."""
    flat = target.reshape(-1, 4)
    colours = list(dict.fromkeys(map(tuple, flat.tolist())))
    if len(colours) > len(_SPRITE_CHARS) + ((0, 0, 0, 0) in colours):
        return _target_bytes_code(target)
    chars = iter(_SPRITE_CHARS)
    palette = {c: "." if c == (0, 0, 0, 0) else next(chars) for c in colours}
    lines = ["# The target sprite: one character per pixel, '.' transparent ----------------",
             "PALETTE = {  # character: (red, green, blue, alpha)"]
    lines += [f"    {_literal(ch)}: {colour},"
              for colour, ch in sorted(palette.items(), key=lambda kv: kv[1] != ".")]
    lines += ["}", "SPRITE = ["]
    lines += [f'    "{"".join(palette[tuple(p)] for p in row.tolist())}",' for row in target]
    lines += ["]", "", "", _TARGET_FROM_ROWS]
    return "\n".join(lines)


_TARGET_FROM_ROWS = '''def target_image() -> Tensor:
    """The sprite as float RGBA (4, H, W) in [0, 1]: the layout the models train on."""
    rgba = torch.tensor([[PALETTE[ch] for ch in row] for row in SPRITE], dtype=torch.uint8)
    return rgba.permute(2, 0, 1).float().div(255.0)'''


def _target_bytes_code(target: np.ndarray) -> str:
    """A colourful sprite as zlib-compressed RGBA bytes in base64, 76 characters a line."""
    text = base64.b64encode(zlib.compress(np.ascontiguousarray(target).tobytes(), 9)).decode()
    chunks = "\n".join(f'    "{text[i:i + 76]}"' for i in range(0, len(text), 76))
    h, w = target.shape[:2]
    return f'''# The target sprite: {w}x{h} RGBA bytes, zlib-compressed and base64-encoded ------
SPRITE_RGBA = (
{chunks}
)


def target_image() -> Tensor:
    """The sprite as float RGBA (4, H, W) in [0, 1]: the layout the models train on."""
    raw = bytearray(zlib.decompress(base64.b64decode(SPRITE_RGBA)))
    rgba = torch.frombuffer(raw, dtype=torch.uint8).reshape({h}, {w}, 4)
    return rgba.permute(2, 0, 1).float().div(255.0)'''


@functools.cache
def _source(obj: Any) -> str:
    """An object's source, as written in its module."""
    return inspect.getsource(obj).rstrip()


def _model_code(cfg: RunConfig) -> str:
    """The model class from playground/models.py and every helper it needs, verbatim."""
    cls = models.MODELS[cfg.model].make
    names = _model_dependencies(cls.__name__)
    order = sorted(names, key=_definition_line)
    blocks = [_constant_code(n) if n in _HELPER_CONSTANTS else _source(getattr(models, n))
              for n in order]
    return ("# The model (copied from playground/models.py) -----------------------------------\n"
            + "\n\n\n".join(blocks))


@functools.cache
def _model_dependencies(root: str) -> frozenset[str]:
    """The names in playground.models that `root` uses, directly or through helpers."""
    local = {n for n, v in vars(models).items()
             if n in _HELPER_CONSTANTS or getattr(v, "__module__", None) == models.__name__}
    seen: set[str] = set()
    todo = [root]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        code = _constant_code(name) if name in _HELPER_CONSTANTS else _source(getattr(models, name))
        used = {node.id for node in ast.walk(ast.parse(code)) if isinstance(node, ast.Name)}
        todo += sorted((used & local) - seen)
    return frozenset(seen)


@functools.cache
def _definition_line(name: str) -> int:
    """Where a name is defined in models.py, so the script keeps the module's order."""
    text = inspect.getsource(models)
    match = re.search(rf"^(class |def )?{re.escape(name)}\b", text, flags=re.M)
    return text[:match.start()].count("\n") if match else 0


def _constant_code(name: str) -> str:
    """A module-level constant of models.py written back as code (classes by name)."""
    value = getattr(models, name)
    if isinstance(value, dict):
        items = ", ".join(f"{_literal(k)}: {_class_ref(v)}" for k, v in value.items())
        return f"{name} = {{{items}}}"
    return f"{name} = {value!r}"


def _class_ref(cls: type) -> str:
    """How the script names a class: `nn.ReLU` for torch's, the bare name for ours."""
    if cls.__module__.startswith("torch.nn"):
        return f"nn.{cls.__name__}"
    return cls.__name__


_LOADER_INTRO = """# The data loader (copied from playground/ingredients.py) -----------------------------
# torch.utils.data.DataLoader(TensorDataset(inputs, targets), shuffle=True) does the same job; this
# small loader keeps the app's exact batch order (its own generator, one randperm per epoch).
"""

_HELPERS = '''# Small helpers ------------------------------------------------------------------
def to_rgba8(pixels: Tensor) -> Tensor:
    """(4, H, W) values in [0, 1] as uint8 (H, W, 4), rounded like the app's display."""
    pixels = torch.nan_to_num(pixels.detach(), nan=0.0).clamp(0.0, 1.0)
    return pixels.mul(255.0).round().to(torch.uint8).permute(1, 2, 0).contiguous()


def write_png(path: Path, rgba: Tensor) -> None:
    """A minimal PNG encoder (8-bit RGBA), so the script needs no image library."""
    height, width, _ = rgba.shape
    raw = b"".join(b"\\x00" + bytes(rgba[y].flatten().tolist()) for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8 bits, RGBA
    path.write_bytes(b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", header)
                     + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


class PlainProgress:
    """Stands in for tqdm when it is not installed: the loss lines are the progress."""

    def __init__(self, total: int) -> None:
        self.total = total

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, **values: object) -> None:
        pass

    def write(self, text: str) -> None:
        print(text, flush=True)

    def close(self) -> None:
        pass


def progress_bar(total: int):
    """A tqdm bar if tqdm is installed, else plain printed lines."""
    try:
        from tqdm import tqdm
    except ImportError:
        return PlainProgress(total)
    return tqdm(total=total, unit="step", dynamic_ncols=True)'''


def _main_code(cfg: RunConfig) -> str:
    """main(): build everything from the settings, then the textbook loop."""
    if cfg.model == "coord":
        data = ("# One sample per pixel: its (x, y) in, its RGBA out.\n"
                "    inputs, targets = model.grid, image.reshape(4, -1).T.contiguous()")
    else:
        data = "inputs, targets = model.z, image.unsqueeze(0)  # one sample: latent -> sprite"
    lbfgs = cfg.optimizer == "lbfgs"
    return _MAIN.format(
        model_cls=models.MODELS[cfg.model].make.__name__, data=data, criterion=_criterion_code(cfg),
        optimizer=_optimizer_code(cfg), scheduler=_indent(_scheduler_code(cfg), 4),
        to_pixels="torch.sigmoid(model.image())  # BCE: the model emits logits, not pixels"
        if cfg.loss == "bce" else "model.image().clamp(0.0, 1.0)",
        state=_indent(("" if lbfgs else _BEST_INIT) + (_EARLY_INIT if cfg.patience > 0 else ""), 4),
        update=_indent(_update_code(cfg), 12),
        end_of_epoch=_indent(_end_of_epoch_code(cfg), 8),
        restore=_indent("" if lbfgs else _RESTORE, 4))


def _indent(code: str, spaces: int) -> str:
    """Indent every non-empty line; placeholders sit at column 0 and end their own line."""
    if not code:
        return ""
    pad = " " * spaces
    return "\n".join(pad + line if line else line for line in code.splitlines()) + "\n"


def _criterion_code(cfg: RunConfig) -> str:
    """`nn.MSELoss()` etc., with any argument that differs from torch's default."""
    criterion = LOSSES[cfg.loss].make()
    default = type(criterion)()
    args = [f"{k}={v!r}" for k, v in vars(criterion).items()
            if not k.startswith("_") and k != "training" and vars(default).get(k) != v]
    return f"nn.{type(criterion).__name__}({', '.join(args)})"


def _optimizer_args(cfg: RunConfig) -> tuple[type[torch.optim.Optimizer], dict[str, Any]]:
    """The fewest keyword arguments that rebuild optim.py's optimizer exactly (same defaults);
    settings named in RunConfig are always shown, since they are what the learner tuned."""
    def probe() -> list[nn.Parameter]:
        return [nn.Parameter(torch.zeros(1))]

    opt = make_optimizer(probe(), cfg)
    cls = type(opt)
    accepted = inspect.signature(cls.__init__).parameters
    args = {k: v for k, v in opt.defaults.items() if k in accepted}
    for key in list(args):
        if key == "lr" or key in FIELDS:
            continue
        trial = {k: v for k, v in args.items() if k != key}
        if cls(probe(), **trial).defaults == opt.defaults:
            args = trial
    if cls(probe(), **args).defaults != opt.defaults:  # never hand out a script that differs
        raise RuntimeError(f"cannot express the {cfg.optimizer} optimizer as keyword arguments")
    return cls, args


def _optimizer_code(cfg: RunConfig) -> str:
    """`torch.optim.Adam(model.parameters(), lr=cfg.lr, ..., fused=True)`, wrapped at 100."""
    cls, args = _optimizer_args(cfg)
    parts = ["model.parameters()"]
    for key, value in args.items():
        named = key in FIELDS and getattr(cfg, key) == value
        parts.append(f"{key}=cfg.{key}" if named else f"{key}={_literal(value)}")
    head = f"torch.optim.{cls.__name__}("
    pad = " " * (len("    optimizer = ") + len(head))
    lines, line = [], ""
    for part in parts:
        candidate = f"{line}, {part}" if line else part
        if line and len(pad) + len(candidate) + 2 > 100:
            lines.append(line + ",")
            line = part
        else:
            line = candidate
    lines.append(line + ")")
    return head + ("\n" + pad).join(lines)


def _scheduler_code(cfg: RunConfig) -> str:
    """The scheduler exactly as schedules.py builds it (a plain cosine for warmup_cosine, warmup=0)."""
    if cfg.schedule == "warmup_cosine" and cfg.warmup == 0:
        return _SCHEDULERS["cosine"].replace("total_steps)", "total_steps - cfg.warmup)", 1)
    return _SCHEDULERS[cfg.schedule]


def _update_code(cfg: RunConfig) -> str:
    """One optimizer step: the textbook update, or LBFGS's closure, with the divergence check."""
    schedule = ("scheduler.step()  # the schedule moves once per optimizer step\n"
                if cfg.schedule not in ("constant", "plateau") else "")
    if cfg.optimizer == "lbfgs":
        clip = ("# (clip_grad_norm is not applied: LBFGS's line search sets its own step size)\n"
                if cfg.clip_grad_norm > 0 else "")
        return _LBFGS_UPDATE.format(clip=clip, check=_CHECK, schedule=schedule)
    clip = ("nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad_norm)  # rescale big "
            "gradients\n" if cfg.clip_grad_norm > 0 else "")
    return _UPDATE.format(clip=clip, check=_CHECK, schedule=schedule)


def _end_of_epoch_code(cfg: RunConfig) -> str:
    """Per-epoch work: the plateau schedule and early stopping see the epoch's mean loss."""
    if cfg.schedule != "plateau" and cfg.patience <= 0:
        return ""
    parts = ["# End of an epoch: the plateau schedule and early stopping see its mean loss.",
             "epoch_loss = sum(epoch_losses) / len(epoch_losses)"]
    if cfg.schedule == "plateau":
        parts.append("scheduler.step(epoch_loss)  # lowers the lr when the epoch loss stalls")
    if cfg.patience > 0:
        parts.append(_EARLY_STOP)
    return "\n".join(parts)


_MAIN = """# Training -----------------------------------------------------------------------------------
def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=0, help="stop after this many optimizer steps")
    p.add_argument("--epochs", type=int, default=0, help="override the number of epochs")
    p.add_argument("--print-every", type=int, default=0, help="print the loss every N steps")
    p.add_argument("--out", type=Path, default=Path("."), help="where to write the outputs")
    return p.parse_args()


def main() -> None:
    args = parse_args()
    if args.epochs:
        cfg.epochs = args.epochs
    torch.set_num_threads(1)  # tiny models run fastest on one thread, as in the app
    torch.set_flush_denormal(True)  # subnormal floats in the optimizer state only slow it down

    # 1. The data and the model. The seed fixes the starting weights: same seed, same run.
    image = target_image()  # (4, H, W)
    torch.manual_seed(cfg.seed)
    model = {model_cls}(cfg)
    {data}
    loader = Loader(inputs, targets, cfg.batch_size, cfg.seed + 3)
    total_steps = cfg.epochs * len(loader)

    # 2. What "wrong" means, the update rule and the learning-rate schedule.
    criterion = {criterion}
    optimizer = {optimizer}
{scheduler}
    # 3. The textbook loop: per epoch, per batch: zero_grad, forward, loss, backward, step.
    limit = min(args.steps or total_steps, total_steps)
    print_every = args.print_every or max(1, limit // 20)
    bar = progress_bar(limit)
    history = []  # (step, epoch, loss, lr)
    step, status = 0, "running"
    explode_at = math.inf  # set from the first loss: 1000x that means the run has diverged
{state}    for epoch in range(1, cfg.epochs + 1):
        model.train()
        epoch_losses = []
        for x, y in loader:
            lr = optimizer.param_groups[0]["lr"]
{update}            step += 1
            epoch_losses.append(loss_value)
            history.append((step, epoch, loss_value, lr))
            bar.update(1)
            if step % print_every == 0 or step == limit:
                bar.write(f"step {{step:>7,}}/{{limit:,}}  epoch {{epoch:>6,}}  "
                          f"loss {{loss_value:.6g}}  lr {{lr:.3g}}")
            if step == limit < total_steps:  # --steps: stop early, mid-epoch if need be
                status = f"stopped after {{step}} steps"
                break
        if status != "running":
            break
{end_of_epoch}    bar.close()
    status = "completed" if status == "running" else status
{restore}
    # 4. The results: every loss, and the learned sprite.
    args.out.mkdir(parents=True, exist_ok=True)
    lines = [f"{{s}},{{e}},{{loss!r}},{{lr!r}}\\n" for s, e, loss, lr in history]
    (args.out / "losses.csv").write_text("step,epoch,loss,lr\\n" + "".join(lines))
    model.eval()
    with torch.no_grad():
        pixels = {to_pixels}
    write_png(args.out / "final.png", to_rgba8(pixels))
    final = f"{{history[-1][2]:.6g}}" if history else "none"
    print(f"{{status}}: {{step}} steps, final loss {{final}}; wrote losses.csv and final.png "
          f"to {{args.out}}")"""

_CHECK = """if math.isfinite(loss_value) and explode_at == math.inf:
    explode_at = 1000 * max(loss_value, 1.0)
if not math.isfinite(loss_value) or loss_value > explode_at:
    status = (f"diverged at step {step + 1}: loss {loss_value:.3g} with lr={lr:.3g}; "
              "try a 10x lower lr")
    break
"""

_UPDATE = """optimizer.zero_grad(set_to_none=True)
loss = criterion(model(x), y)  # forward: how wrong is the picture?
loss.backward()  # backward: the gradient of the loss for every weight
loss_value = loss.item()
{clip}{check}if loss_value < best_loss:  # remember the best weights (restored after divergence)
    best_loss = loss_value
    best_weights = [p.detach().clone() for p in model.parameters()]
optimizer.step()  # update the weights
{schedule}"""

_LBFGS_UPDATE = """
# LBFGS evaluates the loss several times per step (a line search), so it takes a closure.
def closure(x: Tensor = x, y: Tensor = y) -> Tensor:
    optimizer.zero_grad(set_to_none=True)
    loss = criterion(model(x), y)
    loss.backward()
    return loss

{clip}loss_value = optimizer.step(closure).item()  # the loss before this step's update
{check}{schedule}"""

_BEST_INIT = "best_loss, best_weights = math.inf, None  # the best weights, kept for a bad ending\n"

_EARLY_INIT = "best_epoch_loss, bad_epochs = math.inf, 0  # early stopping\n"

_EARLY_STOP = """if best_epoch_loss - epoch_loss > cfg.min_delta:
    best_epoch_loss, bad_epochs = epoch_loss, 0
else:
    bad_epochs += 1
    if bad_epochs >= cfg.patience:
        status = (f"early stopped after epoch {epoch}: "
                  f"no improvement for {cfg.patience} epochs")
        break"""

_RESTORE = """if status.startswith(("diverged", "early stopped")) and best_weights is not None:
    with torch.no_grad():  # go back to the weights that gave the lowest loss
        for p, best in zip(model.parameters(), best_weights, strict=True):
            p.copy_(best)
"""

_FOOTER = """if __name__ == "__main__":
    main()
"""
