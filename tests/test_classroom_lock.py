"""Classroom links lock what they hide: a link with `hide=lr&lr=0.01` keeps the learning rate at
0.01 whichever control a student uses (race table, LR finder, stability map, lesson presets,
guided experiments, restores, a task switch), and says so; the teacher's picker speaks labels."""

from __future__ import annotations

import dataclasses
import json
import urllib.parse
from collections.abc import Callable

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from playground.config import RunConfig
from playground.ui import compare, labels
from tests.helpers import wait_until
from tests.test_app import open_compare

TIMEOUT = 60
LINK = {"hide": "lr", "lr": "0.01", "model": "pixels", "epochs": "20", "pace": "0"}
LOCKED = "🔒 The learning rate is set by your teacher."
REFUSED = LOCKED + " That control left it as it is."  # the sidebar, after a refused change


@pytest.fixture
def at():
    page = AppTest.from_file("../app.py", default_timeout=TIMEOUT)
    yield page
    state = page.session_state
    if "runner" in state and state["runner"] is not None:
        state["runner"].stop(wait=True)
        assert state["runner"].join(5)
    for key in ("race_job", "map_job"):
        if key in state and state[key] is not None:
            state[key].cancel()
            assert state[key].join(30)
    if "lr_find" in state:
        state["lr_find"][1].cancel()
        assert state["lr_find"][1].join(30)


def open_link(at: AppTest, **extra: str) -> AppTest:
    """Open the page from a classroom link that hides (and sets) the learning rate."""
    for k, v in {**LINK, **extra}.items():
        at.query_params[k] = v
    return rerun(at)


def rerun(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> str:
    """Everything the page says in captions, notes, successes and errors."""
    return " ".join(e.value for kind in ("caption", "info", "success", "error", "warning")
                    for e in at.get(kind))


def finished_job(at: AppTest, key: str, timeout: float = 90) -> dict:
    """Rerun the page (AppTest fires no timers) until a compare job has ended."""
    def done():
        rerun(at)
        job = at.session_state[key] if key in at.session_state else None  # noqa: SIM401
        return job is not None and not job.alive and job.snapshot()
    return wait_until(done, timeout=timeout, interval=0.1, what=key)


# The entry points: each drives one control the way a student would, checks its own effect and
# returns what the page said right after the attempt.
def race_table(at: AppTest) -> str:
    """A student types lr=46.9 into the race table and starts the race."""
    open_compare(open_link(at))
    editor = at.data_editor[0]
    columns = json.loads(editor.proto.columns)
    assert columns["lr"].get("disabled") is True  # greyed out in the browser
    assert editor.value["lr"].eq(0.01).all()
    assert "LR sweep x10" not in at.selectbox(key="race_preset").options  # nothing left to sweep
    at.session_state[editor.key] = {"edited_rows": {0: {"lr": 46.9}, 1: {"momentum": 0.5}},
                                    "added_rows": [], "deleted_rows": []}
    rerun(at).button(key="race_start").click()
    said = texts(rerun(at))
    assert "Every contender races with it" in said
    configs = at.session_state["race_job"].args[0]
    assert [c.lr for c in configs] == [0.01, 0.01, 0.01]
    assert configs[1].momentum == 0.5  # the free columns still edit
    return said


def lr_finder(at: AppTest) -> str:
    """The test runs (it teaches), but 'Use this LR' is off, and says why."""
    open_compare(open_link(at))
    at.button(key="lr_find_run").click()
    wait_until(lambda: rerun(at) and any("Suggested" in c.value for c in at.caption),
               timeout=TIMEOUT, interval=0.1, what="the sweep's suggestion")
    use = at.button(key="lr_find_use")
    assert use.disabled and "The test still shows" in texts(at)
    return texts(at)  # (AppTest, like a browser, cannot click a disabled button)


def map_load(at: AppTest) -> str:
    """Load on an SGD cell at another rate brings only the optimizer."""
    open_compare(open_link(at))
    at.number_input(key="map_count").set_value(3)
    rerun(at).number_input(key="map_steps").set_value(20)
    rerun(at).button(key="map_run").click()
    finished_job(at, "map_job")
    rerun(at)
    cell = next(o for o in at.selectbox(key="map_pick").options if o.startswith("sgd · lr=0.0316 "))
    at.selectbox(key="map_pick").set_value(cell)
    assert "Load puts only the optimizer into the sidebar" in texts(at)
    rerun(at).button(key="map_load").click()
    said = texts(rerun(at))
    assert at.selectbox(key="w_optimizer").value == "sgd"
    assert "Loaded sgd (the learning rate stays as your teacher set it) into the sidebar" in said
    return said


def lesson_preset(at: AppTest) -> str:
    """'Overfit on purpose' sets its data and model, not its learning rate."""
    open_link(at, task="classify", model="cnn")
    at.button(key="preset_overfit").click()
    said = texts(rerun(at))
    assert at.number_input(key="w_samples").value == 100 and at.session_state["cfg"].dropout == 0
    assert REFUSED in said
    return said


def task_switch(at: AppTest) -> str:
    """A new lesson brings its defaults, but not its learning rate."""
    open_link(at)
    at.selectbox(key="w_task").set_value("line")
    said = texts(rerun(at))
    assert at.selectbox(key="w_model").value == "linear" and REFUSED in said
    return said


def experiment(at: AppTest) -> str:
    """'Try it' on the diverging experiment (lr 1.5) runs at the teacher's rate, with no live box."""
    open_link(at, epochs="1000000")
    at.session_state["experiments_open"] = True
    rerun(at)
    at.button(key="exp_diverging").click()
    said = texts(rerun(at))
    assert REFUSED in said
    runner = at.session_state["runner"]
    wait_until(lambda: rerun(at) and runner.snapshot().state == "running", timeout=TIMEOUT,
               interval=0.05, what="the experiment to run")
    assert runner.snapshot().config.lr == 0.01 and runner.snapshot().base_lr == 0.01
    assert "live_lr" not in {n.key for n in at.number_input}
    return said


def restore(at: AppTest) -> str:
    """Restoring a kept run at another rate brings back its other settings only."""
    open_link(at)
    at.button(key="start").click()
    rerun(at)
    wait_until(lambda: kept_runs(rerun(at)), timeout=TIMEOUT, interval=0.05,
               what="the run to be kept")
    kept = at.session_state["run_history"][0]
    at.session_state["run_history"] = [dataclasses.replace(
        kept, config=kept.config.replace(lr=46.9, seed=7))]  # a run kept before the lock
    rerun(at).selectbox(key="history_pick").set_value(kept.name)
    rerun(at).button(key="history_restore").click()
    said = texts(rerun(at))
    assert at.session_state["cfg"].seed == 7 and REFUSED in said
    return said


def kept_runs(at: AppTest) -> list:
    """The finished runs the page keeps (none yet: empty)."""
    return at.session_state["run_history"] if "run_history" in at.session_state else []  # noqa: SIM401


ENTRY_POINTS: dict[str, Callable[[AppTest], None]] = {
    "race table": race_table, "LR finder": lr_finder, "map load": map_load,
    "lesson preset": lesson_preset, "task switch": task_switch, "experiment": experiment,
    "restore": restore,
}


@pytest.mark.parametrize("drive", ENTRY_POINTS.values(), ids=ENTRY_POINTS.keys())
def test_a_hidden_learning_rate_stays_locked(at: AppTest, drive) -> None:
    said = drive(at)
    assert LOCKED in said
    rerun(at)
    assert at.session_state["cfg"].lr == 0.01
    linked, _ = RunConfig.from_query(at.query_params)
    assert linked.lr == 0.01  # the address bar keeps the lock too


def test_without_a_lock_the_same_controls_change_the_rate(at: AppTest) -> None:
    """The control the lock guards really writes the rate on an ordinary link (so the test above
    cannot pass merely because a control does nothing)."""
    at.query_params.update(model="pixels", lr="0.01", pace="0")
    rerun(at).selectbox(key="w_task").set_value("line")
    rerun(at)
    assert at.session_state["cfg"].lr == 1e-5 and LOCKED not in texts(at)


def test_the_hide_picker_lists_labels_and_the_link_carries_keys(at: AppTest) -> None:
    at.query_params.update(pace="0")
    rerun(at)
    picker = at.multiselect(key="share_hide")
    assert {"Learning rate", "Minimum LR", "Clip gradient norm (0 = off)"} <= set(picker.options)
    assert not {"lr", "min_lr", "clip_grad_norm"} & set(picker.options)
    picker.set_value(["lr", "min_lr"])
    rerun(at)
    links = [c.value for c in at.code if "hide=" in c.value]
    query = urllib.parse.parse_qs(links[-1].split("?", 1)[1])
    assert query["hide"] == ["lr,min_lr"]


def test_the_race_ignores_locked_columns() -> None:
    cfg = RunConfig(lr=0.01)
    table = pd.DataFrame([{"optimizer": "sgd", "lr": 46.9}, {"optimizer": "adam", "lr": 3.0}])
    configs, problem = compare.configs_from_table(cfg, table, locked=["lr"])
    assert problem is None and [c.lr for c in configs] == [0.01, 0.01]
    configs, _ = compare.configs_from_table(cfg, table)
    assert [c.lr for c in configs] == [46.9, 3.0]


def test_lock_messages_name_settings_as_the_page_does() -> None:
    assert labels.listing(["lr"]) == "the learning rate"
    assert labels.listing(["min_lr", "clip_grad_norm", "optimizer"]) == (
        "the minimum LR, clip gradient norm and optimizer")
