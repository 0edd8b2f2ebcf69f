"""Watching a shared study from the page: only the storages the operator lists can be opened, and
a study that `tune --storage` fills on another machine shows its trials, best and Use the best."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from playground.cli import main
from playground.compare.tune_watch import ENV, study_names, watch
from playground.config import ConfigError
from tests.test_app import TIMEOUT, open_page

BASE = ["--set", "model=pixels", "--set", "size=8", "--set", "epochs=20", "--set", "optimizer=sgd"]


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite storage holding one 4-trial study, made by the CLI as another machine would."""
    url = f"sqlite:///{tmp_path_factory.mktemp('study') / 'shared.db'}"
    assert main(["tune", *BASE, "--search", "lr=0.01:2:log", "--trials", "4", "--storage", url,
                 "--study", "class-a", "--out", str(Path(url[10:]).parent / "out"),
                 "--quiet"]) == 0
    return url


def test_only_the_operators_storages_can_be_opened(storage: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    with pytest.raises(ConfigError, match="not one this server may open"):
        study_names(storage)
    monkeypatch.setenv(ENV, storage)
    assert study_names(storage) == ["class-a"]
    snap, base, space, objective = watch(storage, "class-a")
    assert len(snap["trials"]) == 4 and list(space) == ["lr"] and base.optimizer == "sgd"
    with pytest.raises(ConfigError, match="no study 'class-b'"):
        watch(storage, "class-b")


def test_the_page_watches_a_shared_study_and_loads_its_best(storage: str,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    app = AppTest.from_file("../app.py", default_timeout=TIMEOUT)
    open_page(app, compare=True)
    assert not app.get("expander") or not any("shared study" in e.label for e in app.expander)
    monkeypatch.setenv(ENV, storage)
    app.run()
    assert app.selectbox(key="watch_study").value == "class-a"
    assert any(c.value.startswith("4 trials: ") for c in app.caption)
    assert any("Study **class-a**" in c.value for c in app.caption)
    app.button(key="watch_use").click().run()
    assert not app.exception
    assert app.selectbox(key="w_model").value == "pixels"  # the study's whole config
    assert app.number_input(key="w_size").value == 8
    assert any("Loaded the best trial" in s.value for s in app.success)
