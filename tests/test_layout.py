"""The README's layout section names every module, so a newcomer's map cannot drift from the house."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "playground"


def layout_blocks() -> dict[str, str]:
    """The layout section's text per wing ("" for the flat core), from its code block."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    block = section.split("```", 2)[1]
    blocks: dict[str, str] = {"": ""}
    wing = ""
    for line in block.splitlines():
        head = re.match(r"  (\w+)/\s", line)
        if head:
            wing = head.group(1)
        elif re.match(r"  \S", line) or not line.startswith(" "):
            wing = ""
        blocks[wing] = blocks.get(wing, "") + line + "\n"
    return blocks


MODULES = sorted(p.relative_to(PACKAGE) for p in PACKAGE.rglob("*.py")
                 if p.stem not in ("__init__", "__main__") and "__pycache__" not in p.parts)


def test_the_layout_section_has_a_block_for_every_wing() -> None:
    wings = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert wings and wings <= set(layout_blocks())


@pytest.mark.parametrize("module", MODULES, ids=str)
def test_every_module_is_named_in_its_wing_of_the_readme_layout(module: Path) -> None:
    wing = module.parent.as_posix() if module.parent != Path(".") else ""
    text = layout_blocks()[wing]
    assert re.search(rf"(?<![\w/]){re.escape(module.stem)}(\.py)?\b", text), (
        f"README's layout does not name playground/{module}: add one line saying what it is")
