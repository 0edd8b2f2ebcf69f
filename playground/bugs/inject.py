"""A run's bug put in: its registry entry looked up, then applied to the run's ingredients
(effects.py's pieces) or to its exported train.py (script.py's edits). Kept apart from both so the
registry, which is built from their pieces, is imported by them in one direction only."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from torch import nn

from playground.bugs.effects import Squashed, evaluating, still_training
from playground.bugs.registry import BUGS
from playground.bugs.script import apply_edit

if TYPE_CHECKING:
    from playground.config import RunConfig
    from playground.ingredients import Built


def validation(cfg: RunConfig) -> Callable[[nn.Module], contextlib.AbstractContextManager]:
    """How this run validates: `evaluating`, or `still_training` when its bug forgets to."""
    bug = BUGS.get(cfg.bug)
    return still_training if bug is not None and bug.forgets_eval else evaluating


def apply(cfg: RunConfig, built: Built) -> Built:
    """The run's ingredients with its bug in them (the same object when it has none)."""
    bug = BUGS.get(cfg.bug)
    if bug is None:
        return built
    changes: dict[str, Any] = {"loop": bug.loop()}
    if bug.squash is not None:
        changes["criterion"] = Squashed(built.criterion, bug.squash)
    if bug.loader is not None:
        changes["loader"] = bug.loader(cfg, built.loader)
    return replace(built, **changes)


def patched(cfg: RunConfig, script: str) -> str:
    """The script with the config's bug in it (unchanged when it has none)."""
    bug = BUGS.get(cfg.bug)
    if bug is None:
        return script
    for edit in bug.edits(cfg):
        script = apply_edit(script, edit, cfg.bug)
    return script
