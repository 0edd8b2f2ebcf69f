"""The app's own code, copied into train.py: the model class with its helpers, the data loader,
a lesson's dataset, and the script helpers (settings files, progress).

Copied from the source of playground/models.py, ingredients.py, lessons/ and export/script_helpers.py,
so the script cannot drift from them.
"""

from __future__ import annotations

import ast
import functools
import inspect
import re
from types import ModuleType
from typing import Any

from playground import ingredients, losses, models
from playground.config import RunConfig
from playground.export import script_helpers
from playground.export.codegen import literal

_HELPER_CONSTANTS = ("CHANNELS", "ACTIVATIONS")


def loader_code(cfg: RunConfig) -> str:
    """ingredients.Loader verbatim (the app's exact batch order without torch's DataLoader), and
    losses.PerExample when the loss is summed over each example."""
    parts = [_source(ingredients.Loader)]
    if cfg.reduction == "sum":
        parts.append(_source(losses.PerExample))
    return "\n\n\n".join(parts)


def helpers_code() -> str:
    """script_helpers.py's functions verbatim: `--config FILE` and the progress bar or lines."""
    h = script_helpers
    return "\n\n\n".join(_source(f) for f in (h.read_settings, h.overridden, h.same_setting,
                                               h.checked_setting, h.PlainProgress, h.progress_bar))


def seed_weights_code() -> str:
    """models.seed_weights verbatim: every lesson draws its starting weights the same way."""
    return _source(models.seed_weights)


def loader_class_code() -> str:
    """ingredients.Loader verbatim: the line lesson's seeded batches."""
    return _source(ingredients.Loader)


def module_code(module: ModuleType, roots: list[str], skip: frozenset[str] = frozenset()) -> str:
    """The top-level definitions `roots` of a module and every one they use (functions, classes,
    constants), verbatim and in the module's order; `skip` leaves out names another block of the
    script already holds."""
    defs = _top_level(module)
    lines = inspect.getsource(module).splitlines()
    nodes = {defs[n][0]: defs[n][1] for n in dependencies(module, tuple(roots)) - skip}
    return "\n\n\n".join("\n".join(lines[start - 1:nodes[start].end_lineno])
                          for start in sorted(nodes))


@functools.cache
def dependencies(module: ModuleType, roots: tuple[str, ...]) -> frozenset[str]:
    """`roots` and the module's top-level names they use, directly or through others."""
    defs = _top_level(module)
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        used = {n.id for n in ast.walk(defs[name][1]) if isinstance(n, ast.Name)}
        todo += sorted((used & set(defs)) - seen)
    return frozenset(seen)


@functools.cache
def _top_level(module: ModuleType) -> dict[str, tuple[int, ast.AST]]:
    """Each name a module defines at its top level: (first line, its definition)."""
    found: dict[str, tuple[int, ast.AST]] = {}
    for node in ast.parse(inspect.getsource(module)).body:
        first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            found[node.name] = (first, node)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for n in ast.walk(target):
                    if isinstance(n, ast.Name):
                        found[n.id] = (first, node)
    return found


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
