"""The page, driven by Streamlit's AppTest: widgets, controls, polling, uploads and share links."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from playground.charts.common import ZOOM_HINT
from playground.config import RunConfig
from tests.helpers import wait_until

TIMEOUT = 60


def status(at: AppTest) -> str:
    """The live status line (state, step, loss, lr)."""
    lines = [m.value for m in at.markdown if m.value.startswith(("⚪", "🟡", "🟢", "⏸", "✅", "💥",
                                                                  "🛑", "⏹", "⚠"))]
    return lines[0] if lines else ""


def poll(at: AppTest, pred, what: str, timeout: float = 20.0) -> str:
    """AppTest fires no timers: rerun the page until the status line satisfies pred."""
    def check():
        at.run()
        assert not at.exception, at.exception
        return pred(status(at)) and status(at)
    return wait_until(check, timeout=timeout, interval=0.05, what=what)


def step_of(line: str) -> int:
    return int(line.split("step ")[1].split(" /")[0].replace(",", ""))


@pytest.fixture
def app():
    at = AppTest.from_file("../app.py", default_timeout=TIMEOUT)
    yield at
    runner = at.session_state["runner"] if "runner" in at.session_state else None  # noqa: SIM401
    if runner is not None:
        runner.stop(wait=True)
        assert runner.join(5)
    for key in ("race_job", "map_job"):
        if key in at.session_state and at.session_state[key] is not None:
            at.session_state[key].cancel()
            assert at.session_state[key].join(30)


COMPARE_TAB = "🏁 Compare optimizers"


def open_page(at: AppTest, compare: bool = False, **query: str) -> AppTest:
    """Open the page with a link's settings; runs play at full speed unless the link sets a pace.
    `compare`: then click the Compare tab (its tools are drawn only while it is open)."""
    query.setdefault("pace", "0")
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, at.exception
    if compare:
        open_compare(at)
    return at


def open_compare(at: AppTest) -> AppTest:
    """Click the Compare optimizers tab."""
    at.session_state["page_tab"] = COMPARE_TAB
    at.run()
    assert not at.exception, at.exception
    return at


def test_page_loads_with_defaults(app: AppTest) -> None:
    app.run()  # no link at all: the defaults a new visitor sees
    assert app.selectbox(key="w_model").value == RunConfig().model == "coord"
    assert app.selectbox(key="w_optimizer").value == "adam"
    assert app.number_input(key="w_lr").value == pytest.approx(0.001)
    assert app.select_slider(key="w_pace").value == RunConfig().pace > 0  # slow enough to watch
    assert app.selectbox(key="w_schedule").value == "constant"
    assert "idle" in status(app)
    assert app.button(key="start").value is False and app.button(key="stop").disabled


def test_start_produces_history_and_an_image(app: AppTest) -> None:
    open_page(app)
    app.button(key="start").click().run()
    line = poll(app, lambda s: "completed" in s, "the default run to complete")
    assert step_of(line) == RunConfig(pace=0).total_steps
    html = " ".join(h.proto.body for h in app.get("html"))
    assert 'alt="generated"' in html and 'alt="target"' in html
    assert len(app.get("vega_lite_chart")) >= 1


def test_pause_holds_the_step_count_and_step_adds_one(app: AppTest) -> None:
    open_page(app, epochs="1000000")
    app.button(key="start").click().run()
    poll(app, lambda s: "running" in s and "step" in s, "running")
    app.button(key="pause").click().run()
    line = poll(app, lambda s: "paused" in s, "paused")
    held = step_of(line)
    for _ in range(5):
        app.run()
        assert step_of(status(app)) == held
    app.button(key="step").click().run()
    poll(app, lambda s: step_of(s) == held + 1, "one more step")
    assert app.button(key="resume").label == "Resume"


def test_live_lr_change_applies_without_reset(app: AppTest) -> None:
    open_page(app, epochs="1000000")
    app.button(key="start").click().run()
    first = step_of(poll(app, lambda s: "running" in s and "step" in s, "running"))
    app.number_input(key="w_lr").set_value(0.001).run()
    line = poll(app, lambda s: "lr 1e-03" in s, "the new learning rate")
    assert step_of(line) > first  # same run carried on: no reset to step 0
    assert "needs new" not in " ".join(i.value for i in app.info)


def test_changing_the_model_mid_run_says_it_applies_on_next_start(app: AppTest) -> None:
    open_page(app, epochs="1000000")
    app.button(key="start").click().run()
    poll(app, lambda s: "running" in s, "running")
    app.selectbox(key="w_model").set_value("mlp").run()
    notes = " ".join(i.value for i in app.info)
    assert "model" in notes and "next Start or Reset" in notes


def test_start_twice_keeps_one_run(app: AppTest) -> None:
    open_page(app, epochs="1000000")
    app.button(key="start").click().run()
    first = app.session_state["runner"]._task
    app.button(key="start").click().run()
    runner = app.session_state["runner"]
    assert runner._task is first  # the second Start made no new run
    wait_until(lambda: runner.snapshot().n_rows > 0, what="it trains")
    assert sum(w.task is first for w in runner.pool.workers) == 1


def test_a_model_too_big_for_the_server_gets_a_message_not_a_run(app: AppTest, monkeypatch) -> None:
    from playground.serve import runner as runner_module

    monkeypatch.setattr(runner_module.MEMORY, "per_run", 0.5 * 2**20)  # a server allowing 0.5 MB
    open_page(app, model="mlp")  # 72k weights: 1.7 MB with gradients and Adam's moments
    app.button(key="start").click().run()
    errors = " ".join(e.value for e in app.error)
    assert "this server allows 0.5 MB per run" in errors and "Choose a smaller size" in errors
    assert not app.session_state["runner"].alive and not app.exception


def test_bad_upload_shows_a_message_and_keeps_the_target(app: AppTest) -> None:
    open_page(app)
    app.file_uploader(key="upload").set_value(("sprite.png", b"this is text", "image/png")).run()
    errors = " ".join(e.value for e in app.error)
    assert "previous target is still in use" in errors
    assert app.session_state["sprite"] == "heart"


def test_good_upload_becomes_the_target(app: AppTest) -> None:
    open_page(app)
    img = np.zeros((20, 20, 4), np.uint8)
    img[5:15, 5:15] = (0, 200, 0, 255)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    app.file_uploader(key="upload").set_value(("square.png", buf.getvalue(), "image/png")).run()
    assert not app.exception
    assert app.session_state["sprite"] == "custom" and app.session_state["pixels"]
    assert app.query_params["sprite"] in ("custom", ["custom"])


def test_gallery_choice_changes_the_config_and_url(app: AppTest) -> None:
    open_page(app)
    app.session_state["sprite"] = "mushroom"  # what a thumbnail click sets
    app.run()
    assert app.session_state["cfg"].sprite == "mushroom"
    assert app.query_params["sprite"] in ("mushroom", ["mushroom"])


def test_malformed_share_link_uses_defaults_and_says_so(app: AppTest) -> None:
    open_page(app, lr="nan", optimizer="bogus", size="99999", junk="1", epochs="50")
    warning = " ".join(w.value for w in app.warning)
    assert "lr" in warning and "optimizer" in warning and "junk" in warning
    assert app.number_input(key="w_lr").value == pytest.approx(RunConfig().lr)
    assert app.number_input(key="w_epochs").value == 50
    app.button(key="start").click().run()
    poll(app, lambda s: "completed" in s, "a run to complete")


def test_divergence_is_explained(app: AppTest) -> None:
    open_page(app, model="mlp", optimizer="sgd", lr="1000", epochs="300")
    app.button(key="start").click().run()
    poll(app, lambda s: "diverged" in s, "divergence")
    errors = " ".join(e.value for e in app.error)
    assert "diverged at step" in errors and "10x lower" in errors


def test_classify_lesson_runs_with_validation_and_confusion(app: AppTest) -> None:
    open_page(app, task="classify", samples="120", epochs="3", patience="0")
    assert app.selectbox(key="w_model").value == "cnn"
    assert app.selectbox(key="w_loss").value == "ce"
    app.button(key="start").click().run()
    poll(app, lambda s: "completed" in s, "the classifier to finish", timeout=60)
    captions = " ".join(c.value for c in app.caption)
    assert "validation accuracy" in captions and "best validation loss" in captions
    assert len(app.get("vega_lite_chart")) >= 3  # loss by batch/epoch, accuracy, confusion
    html = " ".join(h.proto.body for h in app.get("html"))
    assert "→" in html or "every validation sprite is right" in " ".join(captions)
    app.session_state["downloads_open"] = True
    app.run()
    downloads = {b.key: b for b in app.get("download_button")}
    assert {"dl_csv", "dl_json", "dl_train"} <= downloads.keys()  # train.py for the lesson too


def test_a_run_watching_accuracy_says_which_epoch_it_kept_by_accuracy(app: AppTest) -> None:
    open_page(app, task="classify", samples="120", epochs="3", patience="0", monitor="accuracy")
    assert app.selectbox(key="w_monitor").value == "accuracy"
    assert app.selectbox(key="w_monitor").options == ["loss", "accuracy"]
    app.button(key="start").click().run()
    poll(app, lambda s: "completed" in s, "the classifier to finish", timeout=60)
    captions = " ".join(c.value for c in app.caption)
    assert "best validation accuracy" in captions and "best validation loss" not in captions
    assert not app.get("download_button")  # the downloads' list is drawn only when opened
    app.session_state["downloads_open"] = True
    app.run()
    downloads = {b.key for b in app.get("download_button")}
    assert {"dl_best", "dl_hist_png"} <= downloads


def test_classify_run_shows_its_test_set_once_it_ends(app: AppTest) -> None:
    open_page(app, task="classify", samples="120", epochs="2", patience="0")
    assert "78 train, 24 validation, 18 test" in " ".join(c.value for c in app.caption)
    assert not any("Test set" in m.value for m in app.markdown)  # nothing before a run ends
    app.button(key="start").click().run()
    poll(app, lambda s: "completed" in s, "the classifier to finish", timeout=60)
    assert any(m.value.startswith("**Test set** · 18 held-out") for m in app.markdown)
    metrics = {m.label: m.value for m in app.metric}
    assert {"test accuracy", "macro F1", "parameters", "ms per sample"} <= set(metrics)
    assert metrics["test accuracy"].endswith("%")
    table = app.dataframe[0].value
    assert list(table.index) == ["circle", "square", "triangle", "cross", "macro avg"]
    assert list(table.columns) == ["precision", "recall", "f1", "support"]
    assert table["support"].iloc[:4].sum() == 18
    assert "MB of weights" in " ".join(c.value for c in app.caption)
    assert len(app.get("vega_lite_chart")) >= 4  # the test confusion beside the validation one


def test_each_task_describes_its_own_models(app: AppTest) -> None:
    open_page(app, model="mlp")  # the sprite lesson's mlp is a generator, not the classifier
    picker = app.selectbox(key="w_model")
    assert "MLP generator" in picker.help and "classifier" not in picker.help
    assert "- **coord**: Coordinate MLP" in picker.help and "logreg" not in picker.help
    captions = " ".join(c.value for c in app.caption)
    assert "MLP generator: a fixed random latent" in captions and "MLP classifier" not in captions
    app.selectbox(key="w_task").set_value("classify").run()
    app.selectbox(key="w_model").set_value("mlp").run()
    picker = app.selectbox(key="w_model")
    assert "MLP classifier" in picker.help and "generator" not in picker.help
    captions = " ".join(c.value for c in app.caption)
    assert "MLP classifier: centres each shape" in captions and "MLP generator" not in captions


def test_switching_task_loads_that_lessons_defaults(app: AppTest) -> None:
    open_page(app)
    app.selectbox(key="w_task").set_value("line").run()
    assert app.selectbox(key="w_model").value == "linear"
    assert app.selectbox(key="w_optimizer").value == "sgd"
    assert app.number_input(key="w_lr").value == pytest.approx(1e-5)
    assert app.query_params["task"] in ("line", ["line"])


def test_overfit_preset_sets_a_small_training_set(app: AppTest) -> None:
    open_page(app, task="classify")
    app.button(key="preset_overfit").click().run()
    assert app.number_input(key="w_samples").value == 100
    assert app.selectbox(key="w_model").value == "cnn"
    assert app.session_state["cfg"].dropout == 0.0 and app.session_state["cfg"].classes == 2


def test_line_lesson_fits_and_predicts(app: AppTest) -> None:
    open_page(app, task="line", normalize="true", lr="0.1", epochs="200")
    app.button(key="start").click().run()
    poll(app, lambda s: "completed" in s, "the line fit")
    text = " ".join(m.value for m in app.markdown)
    assert "Model's price:" in text
    captions = " ".join(c.value for c in app.caption)
    assert "Least squares answer" in captions


def test_classroom_link_sets_title_note_and_hides_controls(app: AppTest) -> None:
    open_page(app, title="Week 3: learning rates", note="Find the largest LR that converges",
              hide="optimizer,momentum", optimizer="sgd")
    assert any("Week 3" in m.value for m in app.markdown)
    assert any("largest LR" in i.value for i in app.info)
    keys = {s.key for s in app.selectbox}
    assert "w_optimizer" not in keys and "w_model" in keys
    assert app.session_state["cfg"].optimizer == "sgd"  # hidden, but still the link's value
    assert not app.warning  # classroom keys are not reported as unknown settings
    assert app.query_params["hide"] in ("optimizer,momentum", ["optimizer,momentum"])


def test_share_panel_shows_a_link_that_reproduces_the_setup(app: AppTest) -> None:
    open_page(app, lr="0.003", optimizer="sgd")
    links = [c.value for c in app.code if "?" in c.value]
    assert links and "lr=0.003" in links[0] and "optimizer=sgd" in links[0]


def test_finished_runs_are_kept_overlaid_and_restorable(app: AppTest) -> None:
    open_page(app, epochs="20")
    app.button(key="start").click().run()
    poll(app, lambda s: "completed" in s, "first run")
    app.number_input(key="w_lr").set_value(0.05).run()
    app.button(key="start").click().run()
    poll(app, lambda s: "completed" in s and "lr 0.05" in s, "second run")
    app.run()
    runs = app.session_state["run_history"]
    assert len(runs) == 2 and runs[0].config.lr == RunConfig().lr and runs[1].config.lr == 0.05
    app.selectbox(key="history_pick").set_value(runs[0].name).run()
    app.button(key="history_restore").click().run()
    assert app.number_input(key="w_lr").value == pytest.approx(RunConfig().lr)
    app.button(key="history_delete").click().run()
    assert len(app.session_state["run_history"]) == 1


def _wait_job(app: AppTest, key: str, timeout: float = 90) -> dict:
    def done():
        app.run()
        assert not app.exception, app.exception
        job = app.session_state[key] if key in app.session_state else None  # noqa: SIM401
        return job is not None and not job.alive and job.snapshot()
    return wait_until(done, timeout=timeout, interval=0.1, what=key)


def test_race_from_the_compare_tab_ends_with_a_leaderboard(app: AppTest) -> None:
    open_page(app, compare=True, model="pixels", epochs="60")
    app.button(key="race_start").click().run()
    snap = _wait_job(app, "race_job")
    assert snap["status"] == "done"
    board = snap["leaderboard"]
    assert len(board) == 3 and board["status"].eq("completed").all()
    assert board["final_loss"].is_monotonic_increasing  # best first
    assert {n.split()[0] for n in board["name"]} == {"sgd", "adam"}
    assert len(snap["images"]) == 3 and snap["images"][0].shape == (16, 16, 4)
    app.run()
    assert sum(c.value == ZOOM_HINT for c in app.caption) == 1  # under the race (no run on Train)


def test_lr_finder_suggests_and_use_sets_the_lr(app: AppTest) -> None:
    open_page(app, compare=True)
    app.button(key="lr_find_run").click().run()
    wait_until(lambda: app.run() and any("Suggested" in c.value for c in app.caption), timeout=60,
               interval=0.1, what="the sweep's suggestion")
    result = app.session_state["lr_find"][1].snapshot()["result"]
    app.button(key="lr_find_use").click().run()
    assert app.number_input(key="w_lr").value == pytest.approx(result.suggestion, rel=0.01)


def test_stability_map_runs_once_and_is_cached(app: AppTest) -> None:
    open_page(app, compare=True, model="pixels")
    app.number_input(key="map_count").set_value(3).run()
    app.number_input(key="map_steps").set_value(20).run()
    app.button(key="map_run").click().run()
    snap = _wait_job(app, "map_job")
    assert snap["status"] == "done" and len(snap["result"]) == 6  # 2 optimizers x 3 LRs
    app.run()
    assert len(app.session_state["map_cache"]) == 1
    assert app.button(key="map_run").disabled  # a second look is instant: nothing to run


def test_downloads_after_a_run_open_and_hold_every_file(app: AppTest) -> None:
    import zipfile

    from playground.ui import downloads

    open_page(app, epochs="30")
    app.button(key="start").click().run()
    poll(app, lambda s: "completed" in s, "the run")
    app.session_state["downloads_open"] = True
    app.run()
    keys = {b.key for b in app.get("download_button")}
    assert {"dl_all", "dl_csv", "dl_json", "dl_png", "dl_gif", "dl_train", "dl_ckpt"} <= keys
    runner = app.session_state["runner"]
    names = set(zipfile.ZipFile(io.BytesIO(downloads._bundle(runner))).namelist())
    assert {"history.csv", "config.json", "final.png", "forming.gif", "train.py",
            "checkpoint.pt"} <= names
    assert len(runner.frames()) > len(app.session_state["runner"].snapshot().filmstrip)


def test_a_guided_experiment_loads_starts_and_says_what_to_watch(app: AppTest) -> None:
    from playground.lessons.experiments import EXPERIMENTS

    open_page(app)
    assert not [b for b in app.button if (b.key or "").startswith("exp_")]  # closed: not drawn
    app.session_state["experiments_open"] = True  # the learner opens the list
    app.run()
    app.button(key="exp_diverging").click().run()
    assert app.selectbox(key="w_model").value == "pixels"
    assert app.number_input(key="w_lr").value == pytest.approx(1.5)
    line = poll(app, lambda s: "diverged" in s, "the diverging experiment to blow up")
    assert "step" in line
    notes = " ".join(i.value for i in app.info)
    assert EXPERIMENTS["diverging"].watch in notes
    assert "try a learning rate 10x lower" in " ".join(e.value for e in app.error)
    app.button(key="exp_warmup_base").click().run()  # its comparison: no warm-up
    assert app.selectbox(key="w_schedule").value == "constant"
    poll(app, lambda s: "diverged" in s, "Adam at 0.3 without warm-up to blow up")


def test_every_experiment_comparison_names_its_change_where_it_can_be_read(app: AppTest) -> None:
    """The change sits in the sentence (a button as narrow as the list's cut it off mid-word),
    and its button and help say it once more."""
    from playground.lessons.experiments import EXPERIMENTS

    open_page(app)
    app.session_state["experiments_open"] = True
    app.run()
    texts = [m.value for m in app.markdown]
    compared = {n: e for n, e in EXPERIMENTS.items() if e.baseline}
    assert compared, "no experiment has a comparison"
    for name, exp in compared.items():
        change = ", ".join(f"{k}={v}" for k, v in exp.baseline.items())
        (text,) = [t for t in texts if t.startswith(f"**{exp.title}**")]
        assert text.endswith(f"Then compare with **{change}**."), text
        button = app.button(key=f"exp_{name}_base")
        assert button.label == "⇄ Compare" and change in button.help
    for name in EXPERIMENTS.keys() - compared.keys():
        assert not [b for b in app.button if b.key == f"exp_{name}_base"]


def test_a_map_cell_loads_its_optimizer_and_learning_rate_into_the_sidebar(app: AppTest) -> None:
    open_page(app, compare=True, model="pixels")
    app.number_input(key="map_count").set_value(3).run()
    app.number_input(key="map_steps").set_value(20).run()
    app.button(key="map_run").click().run()
    snap = _wait_job(app, "map_job")
    app.run()
    cells = snap["result"]
    assert set(cells["regime"]) <= {"crawl", "converge", "oscillate", "diverge"}
    sgd = next(o for o in app.selectbox(key="map_pick").options if o.startswith("sgd · lr=0.0316 "))
    app.selectbox(key="map_pick").set_value(sgd).run()
    app.button(key="map_load").click().run()
    assert not app.exception, app.exception
    assert app.selectbox(key="w_optimizer").value == "sgd"
    assert app.number_input(key="w_lr").value == pytest.approx(0.0316)
    assert "Loaded sgd at lr=0.0316 into the sidebar" in " ".join(s.value for s in app.success)


def test_the_compare_tab_is_drawn_only_while_open_and_keeps_its_settings(app: AppTest) -> None:
    """Its tools run no code while the Train tab is shown (a third of every page run), and a
    learner who sets up a race, a map and a study, looks at the Train tab and comes back finds
    them as they were: the contender table's edits included."""
    open_page(app, model="pixels")
    assert not app.data_editor and "map_count" not in {n.key for n in app.number_input}
    open_compare(app)
    app.selectbox(key="race_preset").set_value(app.selectbox(key="race_preset").options[1]).run()
    editor = app.data_editor[0]
    app.session_state[editor.key] = {"edited_rows": {0: {"lr": 0.123}}, "added_rows": [],
                                     "deleted_rows": []}
    app.run()
    app.number_input(key="map_count").set_value(4).run()
    app.number_input(key="tune_trials").set_value(33).run()
    edited = app.session_state["race_table_edited"].copy()  # what the editor returned
    assert edited["lr"].iloc[0] == pytest.approx(0.123)
    app.session_state["page_tab"] = "🏃 Train"
    app.run()
    app.run()  # a second run: Streamlit drops undrawn widgets' state at the end of a run
    assert not app.exception and not app.data_editor
    open_compare(app)
    open_compare(app)  # and the run after the one that drew the tab again
    assert app.selectbox(key="race_preset").value == app.selectbox(key="race_preset").options[1]
    assert app.number_input(key="map_count").value == 4
    assert app.number_input(key="tune_trials").value == 33
    for table in (app.data_editor[0].value, app.session_state["race_table_edited"]):
        pd.testing.assert_frame_equal(table.reset_index(drop=True), edited.reset_index(drop=True),
                                      check_dtype=False)
