"""train.py.tmpl ships beside the generator, and every placeholder in it is filled in each script."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from playground import RunConfig, sprites
from playground.export import script, train_script
from playground.export.codegen import fill, placeholders
from playground.lessons.generate import target_array
from playground.models import MODELS
from playground.schedules import SCHEDULES

NOISE = np.random.default_rng(7).integers(0, 256, (8, 8, 4), dtype=np.uint8)  # > 62 colours
VARYING = {"settings", "target", "model", "loader", "criterion", "optimizer", "scheduler", "state",
           "update", "end_of_epoch", "restore", "description", "import_base64", "import_scheduler"}


def configs() -> list[RunConfig]:
    """Every model and schedule, LBFGS, early stopping with clipping, and a colourful custom sprite."""
    out = [RunConfig(model=m, size=8) for m in MODELS]
    out += [RunConfig(schedule=s, size=8) for s in SCHEDULES]
    out += [RunConfig(optimizer="lbfgs", model="coord", clip_grad_norm=1.0, size=8),
            RunConfig(patience=3, clip_grad_norm=0.5, loss="bce", size=8),
            RunConfig(sprite="custom", pixels=sprites.encode_sprite(NOISE), size=8)]
    return out


def target_of(cfg: RunConfig) -> np.ndarray:
    return NOISE if cfg.sprite == "custom" else target_array(cfg)


def test_the_template_is_a_data_file_beside_the_generator() -> None:
    path = Path(script.__file__).with_name(script.TEMPLATE)
    assert path.is_file() and path.suffix != ".py", path
    assert script.template_text() == path.read_text(encoding="utf-8")
    assert placeholders(script.template_text()) >= VARYING


@pytest.mark.parametrize("cfg", configs(), ids=lambda c: f"{c.model}-{c.optimizer}-{c.schedule}-"
                         f"{c.sprite}-p{c.patience}")
def test_every_placeholder_is_filled_in_the_generated_script(cfg: RunConfig) -> None:
    code = train_script(cfg, target_of(cfg))
    for name in placeholders(script.template_text()):
        assert not re.search(rf"\$(\{{{name}\}}|{name}\b)", code), f"${name} left in train.py"
    assert "$" not in code


def test_fill_indents_blocks_drops_empty_ones_and_never_rescans_values() -> None:
    template = "def f():\n    $body\n    $empty\n    return ${x}1 + $y\n"
    got = fill(template, {"body": "a = 1\n\nb = 2", "empty": "", "x": "$y", "y": "2"})
    assert got == "def f():\n    a = 1\n\n    b = 2\n    return $y1 + 2\n"


def test_fill_refuses_a_missing_or_unused_value_and_a_stray_dollar() -> None:
    with pytest.raises(KeyError, match=r"without a value: \['b'\]"):
        fill("$a $b", {"a": "1"})
    with pytest.raises(KeyError, match=r"without a placeholder: \['c'\]"):
        fill("$a", {"a": "1", "c": "2"})
    with pytest.raises(ValueError, match="line 2"):
        placeholders("ok\ncosts $5")
