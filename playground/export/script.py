"""train.py: a standalone plain-PyTorch script that replays a run, generated from its config.

The model and data loader are copied verbatim from playground/models.py and engine.py; the rest is
written here so the script needs nothing but torch (tqdm optional).
"""

from __future__ import annotations

import ast
import base64
import functools
import inspect
import json
import re
import zlib
from typing import Any

import numpy as np
import torch
from torch import nn

from playground import engine, models
from playground.config import FIELDS, RunConfig
from playground.losses import LOSSES
from playground.optim import make_optimizer

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
    body = "\n\n\n".join([_model_code(cfg), _LOADER_INTRO + _source(engine.Loader), _HELPERS,
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

{models.DESCRIPTIONS[cfg.model]}
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
    cls = models.MODELS[cfg.model]
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


_LOADER_INTRO = """# The data loader (copied from playground/engine.py) -----------------------------
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
        model_cls=models.MODELS[cfg.model].__name__, data=data, criterion=_criterion_code(cfg),
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
