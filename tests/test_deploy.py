"""`docker build` cannot run here, so these lint what the image and the deploy docs must get right."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from playground.serve.limits import Limits

ROOT = Path(__file__).resolve().parents[1]
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
APP_FILES = {"app.py", "playground", ".streamlit", "requirements.txt"}
NEVER_COPIED = ("tests", "benchmarks", "docs", ".git", "runs")
DEV_TOOLS = ("pytest", "ruff", "playwright", "hypothesis", "requirements-dev")


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile as (INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    out = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def args_of(kind: str) -> list[str]:
    return [rest for word, rest in instructions() if word == kind]


def exec_form(rest: str) -> list[str]:
    """CMD/HEALTHCHECK arguments as a list, whether JSON (exec) form or shell form."""
    rest = rest.strip()
    return json.loads(rest) if rest.startswith("[") else shlex.split(rest)


def env_values() -> dict[str, str]:
    """Every ENV key=value of the Dockerfile."""
    values: dict[str, str] = {}
    for rest in args_of("ENV"):
        for item in shlex.split(rest):
            key, sep, value = item.partition("=")
            assert sep, f"use ENV key=value, not the legacy form: {rest!r}"
            values[key] = value
    return values


def requirement_pin(name: str) -> str:
    """The exact version requirements.txt pins for a package."""
    text = (ROOT / "requirements.txt").read_text()
    match = re.search(rf"^{re.escape(name)}==([^\s#;]+)", text, flags=re.M)
    assert match, f"requirements.txt does not pin {name}"
    return match.group(1)


def limit_env_names() -> list[str]:
    """Every PLAYGROUND_* variable playground/serve/limits.py reads."""
    names = re.findall(r'"(PLAYGROUND_[A-Z_]+)"', (ROOT / "playground" / "serve" / "limits.py").read_text())
    assert len(names) >= 5
    return names


def field_of(env_name: str) -> str:
    """PLAYGROUND_MAX_STEPS -> max_steps, the Limits field it sets."""
    name = env_name.removeprefix("PLAYGROUND_").lower()
    assert name in {f.name for f in dataclasses.fields(Limits)}, env_name
    return name


# The Dockerfile -------------------------------------------------------------------------------
def test_slim_python_311_or_newer_base() -> None:
    (base,) = args_of("FROM")
    match = re.fullmatch(r"python:3\.(\d+)(\.\d+)?-slim(-\w+)?", base)
    assert match and int(match.group(1)) >= 11, base


def test_cpu_only_torch_pinned_like_requirements() -> None:
    runs = " ".join(args_of("RUN"))
    pin = requirement_pin("torch")
    match = re.search(r"pip install[^&;]*--index-url\s+(\S+)[^&;]*\btorch==(\S+)", runs)
    assert match, "torch must come from an --index-url in a pip install"
    assert match.group(1).rstrip("/") == CPU_INDEX
    assert match.group(2) == pin, f"Dockerfile torch=={match.group(2)}, requirements.txt {pin}"
    assert runs.index(CPU_INDEX) < runs.index("-r requirements.txt"), \
        "install CPU torch before requirements.txt, or pip fetches the CUDA build from PyPI"


def test_installs_runtime_requirements_only() -> None:
    runs = " ".join(args_of("RUN")).lower()
    assert "-r requirements.txt" in runs
    for tool in DEV_TOOLS:
        assert tool not in runs, f"the image must not install {tool}"
    runtime = (ROOT / "requirements.txt").read_text().lower()
    for tool in DEV_TOOLS:
        assert not re.search(rf"^{tool}\b", runtime, flags=re.M), f"{tool} in requirements.txt"


def test_copies_only_the_app() -> None:
    copied: set[str] = set()
    for rest in args_of("COPY"):
        parts = [p for p in shlex.split(rest) if not p.startswith("--")]
        sources = [p.rstrip("/").removeprefix("./") for p in parts[:-1]]
        assert sources, rest
        for src in sources:
            assert src not in ("", ".", "*"), f"COPY of the whole context: {rest!r}"
            assert not src.startswith(NEVER_COPIED), f"{src} must not go into the image"
            assert (ROOT / src).exists(), f"COPY source {src} does not exist"
            copied.add(src)
    assert copied >= APP_FILES, f"missing from the image: {APP_FILES - copied}"


def test_dockerignore_excludes_what_the_image_must_not_hold() -> None:
    patterns = {line.strip().rstrip("/").removeprefix("/") for line in
                (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")}
    for name in (*NEVER_COPIED, "**/__pycache__", ".pytest_cache", ".ruff_cache"):
        assert name in patterns, f".dockerignore does not exclude {name}"
    for name in APP_FILES:
        assert name not in patterns, f".dockerignore excludes {name}, which the image needs"


def test_runs_as_a_non_root_user_set_before_cmd() -> None:
    order = [word for word, _ in instructions()]
    users = args_of("USER")
    assert users, "no USER: the app would run as root"
    assert users[-1].split(":")[0] not in ("root", "0")
    last_user = max(i for i, w in enumerate(order) if w == "USER")
    assert last_user < order.index("CMD")
    assert "useradd" in " ".join(args_of("RUN")) or "adduser" in " ".join(args_of("RUN"))


def test_healthcheck_hits_stcore_health_with_python() -> None:
    (check,) = args_of("HEALTHCHECK")
    options, _, command = check.partition("CMD")
    words = exec_form(command)
    assert words[0] in ("python", "python3"), "slim images have no curl: use Python"
    assert "/_stcore/health" in " ".join(words) and ":8501" in " ".join(words)
    assert "--interval" in options and "--start-period" in options


def test_serves_streamlit_on_all_interfaces_port_8501() -> None:
    assert "8501" in " ".join(args_of("EXPOSE")).split()
    (cmd,) = args_of("CMD")
    words = exec_form(cmd)
    assert words[:3] == ["streamlit", "run", "app.py"] or words[:5] == [
        "python", "-m", "streamlit", "run", "app.py"]
    assert "--server.address=0.0.0.0" in words
    assert "--server.port=8501" in words


def test_env_defaults_for_every_limit_match_limits_py(monkeypatch: pytest.MonkeyPatch) -> None:
    env = env_values()
    names = limit_env_names()
    missing = [n for n in names if n not in env]
    assert not missing, f"Dockerfile has no default for {missing}"
    for name in names:
        monkeypatch.setenv(name, env[name])
    assert Limits.from_env() == Limits(), "the image's defaults differ from playground/serve/limits.py"


@pytest.mark.parametrize(("value", "expected"), [
    ("0.5", 0.5), ("2", 2.0), ("0.01", 0.1), ("0", 0.1), ("-3", 0.1), ("60", 5.0),
    ("fast", 0.25), ("nan", 0.25), ("", 0.25)])
def test_live_refresh_is_held_within_its_range(monkeypatch: pytest.MonkeyPatch, value: str,
                                              expected: float) -> None:
    monkeypatch.setenv("PLAYGROUND_LIVE_REFRESH", value)
    assert Limits.from_env().live_refresh == expected


def test_live_refresh_reaches_every_live_view() -> None:
    """The variable sets the redraw interval of the run's view, a race's and the bug lab's, and
    the paused and queued views never redraw faster than the running one."""
    code = ("from playground.ui import bug_lab, compare, landscape, live, tune\n"
            "print(live.REFRESH, live.PAUSED_REFRESH, live.QUEUED_REFRESH, compare.REFRESH, "
            "bug_lab.REFRESH, landscape.REFRESH, tune.REFRESH)")
    env = {**os.environ, "PLAYGROUND_LIVE_REFRESH": "3"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, check=True, timeout=120)
    assert [float(v) for v in out.stdout.split()] == [3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0]


# The public server's config ---------------------------------------------------------------------
def test_streamlit_config_is_hardened_for_the_public() -> None:
    cfg = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    server, runner = cfg.get("server", {}), cfg.get("runner", {})
    assert server.get("headless") is True
    assert 0 < server.get("maxUploadSize", 200) <= 5
    assert server.get("enableXsrfProtection") is True
    assert server.get("enableStaticServing") is False
    assert server.get("enableCORS", True) is True
    assert server.get("fileWatcherType") == "none"
    assert server.get("runOnSave", False) is False
    assert cfg.get("browser", {}).get("gatherUsageStats") is False
    assert runner.get("postScriptGC") is False  # measured: GC after every rerun stalls training
    assert cfg.get("global", {}).get("developmentMode", False) is False
    client = cfg.get("client", {})
    assert client.get("showErrorDetails") in ("none", "type"), "tracebacks would reach visitors"
    assert client.get("toolbarMode") in ("minimal", "viewer"), "visitors would get the dev menu"


# docs/deploy.md -------------------------------------------------------------------------------
def deploy_doc() -> str:
    return (ROOT / "docs" / "deploy.md").read_text()


@pytest.mark.parametrize("command", [
    "docker build -t pixel-playground .",
    "docker run --rm -p 8501:8501 pixel-playground",
    "python -m streamlit run app.py",
    "python -m pip install -r requirements.txt",
    f"--index-url {CPU_INDEX} torch==",
    f"--extra-index-url {CPU_INDEX}",
    "proxy_http_version 1.1;",
    "proxy_set_header Upgrade $http_upgrade;",
    "proxy_set_header Connection $connection_upgrade;",
    "ip_hash;",
    "sticky",
    "/_stcore/health",
    "STREAMLIT_SERVER_COOKIE_SECRET",
])
def test_deploy_doc_shows_the_commands(command: str) -> None:
    assert command in deploy_doc()


def test_deploy_doc_documents_every_limit_with_its_default() -> None:
    doc = deploy_doc()
    table = dict(re.findall(r"^\| `(PLAYGROUND_[A-Z_]+)` \| `([^`]+)` \|", doc, flags=re.M))
    defaults = Limits()
    for name in limit_env_names():
        assert name in table, f"{name} is missing from the limits table"
        assert float(table[name]) == float(getattr(defaults, field_of(name))), name
        assert f"-e {name}=" in doc, f"no `docker run -e {name}=...` example"


def test_deploy_doc_says_what_state_is_per_process() -> None:
    doc = deploy_doc().lower()
    for word in ("session", "runs", "worker pool", "caches", "restart", "replica"):
        assert word in doc, word
