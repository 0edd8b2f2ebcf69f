"""The app's own code, copied into train.py: the model class with its helpers, and the data loader.

Copied from the source of playground/models.py and ingredients.py, so the script cannot drift from them.
"""

from __future__ import annotations

import ast
import functools
import inspect
import re
from typing import Any

from playground import ingredients, losses, models
from playground.config import RunConfig
from playground.export.codegen import literal

_HELPER_CONSTANTS = ("CHANNELS", "ACTIVATIONS")


def loader_code(cfg: RunConfig) -> str:
    """ingredients.Loader verbatim (the app's exact batch order without torch's DataLoader), and
    losses.PerExample when the loss is summed over each example."""
    parts = [_source(ingredients.Loader)]
    if cfg.reduction == "sum":
        parts.append(_source(losses.PerExample))
    return "\n\n\n".join(parts)


@functools.cache
def _source(obj: Any) -> str:
    """An object's source, as written in its module."""
    return inspect.getsource(obj).rstrip()


def model_code(cfg: RunConfig) -> str:
    """The model class from playground/models.py and every helper it needs, verbatim."""
    cls = models.MODELS[cfg.model].make
    names = _model_dependencies(cls.__name__)
    order = sorted(names, key=_definition_line)
    blocks = [_constant_code(n) if n in _HELPER_CONSTANTS else _source(getattr(models, n))
              for n in order]
    return "\n\n\n".join([*blocks, _source(models.seed_weights)])


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
        items = ", ".join(f"{literal(k)}: {_class_ref(v)}" for k, v in value.items())
        return f"{name} = {{{items}}}"
    return f"{name} = {value!r}"


def _class_ref(cls: type) -> str:
    """How the script names a class: `nn.ReLU` for torch's, the bare name for ours."""
    if cls.__module__.startswith("torch.nn"):
        return f"nn.{cls.__name__}"
    return cls.__name__
