"""The house style is checked where everything else is: ruff over the whole repository, and the
core never importing Streamlit (only `playground/ui/` and `app.py` may)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_is_clean() -> None:
    out = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", str(ROOT)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


def imported(path: Path) -> set[str]:
    """Top-level package names a module imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_the_core_never_imports_streamlit() -> None:
    core = [p for p in (ROOT / "playground").rglob("*.py") if "ui" not in p.relative_to(ROOT).parts]
    assert len(core) > 20
    offenders = [str(p.relative_to(ROOT)) for p in core if "streamlit" in imported(p)]
    assert not offenders, offenders


MAX_LINES = 430  # "no module over ~400 lines": a room a newcomer can read in one sitting


def test_no_module_is_too_long_to_read() -> None:
    long = {str(p.relative_to(ROOT)): n for p in [*(ROOT / "playground").rglob("*.py"), ROOT / "app.py"]
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, long


def test_no_private_name_is_imported_across_modules() -> None:
    found = []
    for path in [*(ROOT / "playground").rglob("*.py"), ROOT / "app.py"]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("playground"):
                found += [f"{path.relative_to(ROOT)}: {a.name}" for a in node.names
                          if a.name.startswith("_") and not a.name.startswith("__")]
    assert not found, found
