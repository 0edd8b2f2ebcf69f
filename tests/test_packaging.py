"""`pip install .` ships everything the app and the CLI read at run time."""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_data_file_in_the_package_is_declared_as_package_data() -> None:
    globs = PROJECT["tool"]["setuptools"]["package-data"]["playground"]
    package = ROOT / "playground"
    declared = {p for g in globs for p in package.glob(g)}
    data = {p for p in package.rglob("*") if p.is_file() and p.suffix not in (".py", ".pyc")
            and "__pycache__" not in p.parts}
    assert data, "the package has data files (gallery, template, page assets)"
    assert data <= declared, f"not shipped by `pip install .`: {sorted(map(str, data - declared))}"


def test_console_script_is_the_module_cli_and_dependencies_match_requirements() -> None:
    target = PROJECT["project"]["scripts"]["pixel-playground"]
    module, _, name = target.partition(":")
    assert callable(getattr(importlib.import_module(module), name))
    pinned = {line.split("==")[0].lower() for line in (ROOT / "requirements.txt").read_text().splitlines()
              if "==" in line and not line.startswith("#")}
    declared = {d.split(">=")[0].lower() for d in PROJECT["project"]["dependencies"]}
    assert pinned == declared, "requirements.txt pins and [project] dependencies name the same packages"
