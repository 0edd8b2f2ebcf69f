"""train.py: a standalone plain-PyTorch script that replays a run, filled in from train.py.tmpl.

The template holds the script's fixed code with `$name` placeholders (see codegen.fill); this module
fills the header, settings and sprite, copied_code.py the model and loader, loop_code.py main().
"""

from __future__ import annotations

import base64
import re
import textwrap
import zlib

import numpy as np
import torch

from playground import models
from playground.bugs.inject import patched
from playground.config import FIELDS, RunConfig
from playground.export.codegen import fill, literal, read_template
from playground.export.copied_code import helpers_code, loader_code, model_code
from playground.export.lesson_script import lesson_parts, template_name
from playground.export.loop_code import main_parts
from playground.export.path_script import path_script

TEMPLATE = "train.py.tmpl"  # beside this module, like the lessons' templates; they ship with the package
_SPRITE_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
# The code is written for these settings: a --config file may repeat them but not change them.
_STRUCTURAL = ("task", "model", "loss", "optimizer", "schedule", "reduction")
_IGNORED = ("pace", "pixels", "houses")  # the app's pace; long data texts the script does not read


def train_script(cfg: RunConfig, target: np.ndarray | None = None) -> str:
    """A standalone train.py (torch only, numpy for a lesson's dataset; tqdm optional) that replays
    this run with plain PyTorch: the sprite's target is needed for the sprite task only."""
    if cfg.task == "paths":
        return path_script(cfg)
    if cfg.task != "generate":
        return _filled(cfg, template_text(template_name(cfg)), lesson_parts(cfg), ())
    target = _checked_target(cfg, target)
    parts = {**_parts(cfg, _target_code(target)), "helpers": helpers_code()}
    # The sprite is left out of the search for settings read, since its rows of characters are
    # data and could happen to spell `cfg.<name>`.
    return _filled(cfg, template_text(), parts, ("target",))


def _filled(cfg: RunConfig, template: str, parts: dict[str, str], data: tuple[str, ...]) -> str:
    """The template filled twice: once to find which settings the code reads (CONFIG's keys), then
    with CONFIG, FIXED (the rest, baked into the code) and IGNORED; the run's bug, if any, edited in."""
    empty = {"settings": "", "fixed": "", "ignored": ""}
    code = patched(cfg, fill(template, {**parts, **empty, **dict.fromkeys(data, "")}))
    read = _settings_read(code)
    fixed = [n for n in FIELDS if (n not in read or n in _structural(cfg)) and n not in _IGNORED]
    ignored = [n for n in _IGNORED if n not in read]
    return _ruled(patched(cfg, fill(template, {**parts, "settings": _settings_code(cfg, read),
                                               "fixed": _fixed_code(cfg, fixed),
                                               "ignored": _tuple_items(ignored)})))


def _tuple_items(names: list[str]) -> str:
    """The inside of a tuple literal of names (a trailing comma when there is one)."""
    return ", ".join(map(literal, names)) + ("," if len(names) == 1 else "")


def _structural(cfg: RunConfig) -> tuple[str, ...]:
    """Settings the code is written for: the lesson's choices, and for a sprite its picture (and a
    warmup_cosine without warm-up, which is written as a plain cosine)."""
    if cfg.task == "paths":
        return path_script(cfg)
    if cfg.task != "generate":
        return _STRUCTURAL
    shaped = ("warmup",) if cfg.schedule == "warmup_cosine" and cfg.warmup == 0 else ()
    return (*_STRUCTURAL, "sprite", "size", *shaped)


def template_text(name: str = TEMPLATE) -> str:
    """A template beside this module (train.py.tmpl unless named): every generated script's fixed code."""
    return read_template(name)


def _checked_target(cfg: RunConfig, target: np.ndarray | None) -> np.ndarray:
    """The target as an array, refused unless it is this sprite run's uint8 RGBA picture."""
    if target is None:
        raise ValueError("train.py of a sprite run needs its target sprite")
    target = np.asarray(target)
    if target.dtype != np.uint8 or target.shape != (cfg.size, cfg.size, 4):
        raise ValueError(f"target must be uint8 ({cfg.size}, {cfg.size}, 4) like the run's sprite, "
                         f"got {target.dtype} {target.shape}")
    return target


def _parts(cfg: RunConfig, sprite: str) -> dict[str, str]:
    """Every placeholder of the template but `settings`, which depends on the others."""
    imports = {"import_base64": "import base64" if "base64." in sprite else "",
               "import_scheduler": "" if cfg.schedule == "constant"
               else "from torch.optim import lr_scheduler"}
    return {**_header_parts(cfg), **imports, "target": sprite, "model": model_code(cfg),
            "loader": loader_code(cfg), **main_parts(cfg)}


def _ruled(script: str) -> str:
    """Section comments (`# Title ---`) padded with dashes to column 100, whatever the title."""
    return re.sub(r"^(# .+?) -{3,}$", lambda m: (m.group(1) + " ").ljust(100, "-"), script,
                  flags=re.M)


def _header_parts(cfg: RunConfig) -> dict[str, str]:
    """What the docstring says about this run and the torch it was generated with."""
    return {"description": models.MODELS[cfg.model].doc, "size": f"{cfg.size}",
            "optimizer_name": cfg.optimizer, "lr": f"{cfg.lr:g}", "loss_name": cfg.loss,
            "schedule_name": cfg.schedule, "epochs": f"{cfg.epochs}",
            "torch_version": torch.__version__.split("+")[0]}


def _settings_read(code: str) -> list[str]:
    """The RunConfig fields the code reads as `cfg.<name>`, in RunConfig's order: CONFIG's keys."""
    referenced = set(re.findall(r"\bcfg\.(\w+)", code))
    return [name for name in FIELDS if name in referenced]


def _settings_code(cfg: RunConfig, used: list[str]) -> str:
    """The entries of `CONFIG = {...}`: each setting the script reads, under its help text."""
    lines = []
    for name in used:
        help_text = _first_sentence(FIELDS[name].metadata["help"])
        lines += [f"# {part}" for part in textwrap.wrap(help_text, 94)]
        lines.append(f"{literal(name)}: {literal(getattr(cfg, name))},")
    return "\n".join(lines)


def _fixed_code(cfg: RunConfig, names: list[str]) -> str:
    """The entries of `FIXED = {...}`, packed several to a line."""
    lines, line = [], ""
    for name in names:
        entry = f"{literal(name)}: {literal(getattr(cfg, name))},"
        if line and len(line) + len(entry) > 94:
            lines.append(line)
            line = entry
        else:
            line = f"{line} {entry}" if line else entry
    return "\n".join([*lines, line] if line else lines)


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
    lines += [f"    {literal(ch)}: {colour},"
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
