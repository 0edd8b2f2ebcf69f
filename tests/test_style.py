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


MAX_LINES = 400  # "no module over ~400 lines": a room a newcomer can read in one sitting


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


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_nodes(node: ast.AST) -> list[ast.AST]:
    """Every node that runs: imports inside functions count, `if TYPE_CHECKING:` blocks do not."""
    found = []
    for child in ast.iter_child_nodes(node):
        test = child.test if isinstance(child, ast.If) else None
        if test is not None and "TYPE_CHECKING" in ast.unparse(test):
            for other in child.orelse:
                found += [other, *_runtime_nodes(other)]
            continue
        found += [child, *_runtime_nodes(child)]
    return found


def _reached(node: ast.AST, package: str, modules: set[str]) -> set[str]:
    """The playground modules one import statement reaches: `import a.b` reaches a.b, `from a
    import b` reaches module a.b when b is one (as import checkers count it), else a itself."""
    if isinstance(node, ast.Import):
        return {a.name for a in node.names} & modules
    if not isinstance(node, ast.ImportFrom):
        return set()
    base = node.module or ""
    if node.level:
        parts = package.split(".")
        base = ".".join(parts[:len(parts) - node.level + 1] + ([node.module] if node.module else []))
    return ({f"{base}.{a.name}" for a in node.names} & modules) or ({base} & modules)


def import_graph() -> dict[str, set[str]]:
    """playground's modules and, for each, the playground modules it imports when it runs."""
    paths = {_module_name(p): p for p in (ROOT / "playground").rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges: set[str] = set()
        for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
            edges |= _reached(node, package, set(paths))
        graph[name] = edges - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = []
            while not part or part[-1] != v:
                part.append(stack.pop())
            if len(part) > 1:
                found.append(sorted(part))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


ALLOWED_CYCLES: list[list[str]] = []  # none: dependencies flow one way (README)


def test_the_import_graph_finds_a_cycle() -> None:
    """The checker itself: a two-module loop, even through a function-level import, is found."""
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
    source = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import x\ndef f():\n    import y\n"
    seen = [n.names[0].name for n in _runtime_nodes(ast.parse(source)) if isinstance(n, ast.Import)]
    assert seen == ["y"]
    graph = import_graph()
    assert "playground.tasks" in graph["playground.config"]  # a function-level import counts
    assert "playground.config" not in graph["playground.tasks"]  # a TYPE_CHECKING one does not


def test_no_import_cycles() -> None:
    """Dependencies flow one way, imports inside functions included: no module, however late it
    imports, reaches back to one that imports it."""
    assert cycles(import_graph()) == ALLOWED_CYCLES


CHECK_TORCH_FREE = """
import importlib, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
    if "torch" in sys.modules:
        sys.exit(f"{name} imports torch")
"""


def test_the_charts_import_no_torch() -> None:
    """Charts are pure functions of tables and arrays: importing every one, in a fresh process,
    loads no torch (the page draws a chart without paying for it)."""
    charts = sorted(_module_name(p) for p in (ROOT / "playground" / "charts").glob("*.py"))
    assert len(charts) >= 10 and "playground.charts.paths" in charts
    out = subprocess.run([sys.executable, "-c", CHECK_TORCH_FREE, *charts], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    proof = subprocess.run([sys.executable, "-c", CHECK_TORCH_FREE, "playground.layer_stats"],
                           cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert "playground.layer_stats imports torch" in proof.stderr  # the check can fail
