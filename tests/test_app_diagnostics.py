"""The diagnostics panel on the page (AppTest): gradient norm and update ratio per layer with the
guide band, and a diverged run's autopsy with Retry at lr / 10 and Restart."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df
from streamlit.testing.v1 import AppTest

from playground.charts.annotations import MARKS
from playground.engine import Trainer, build
from playground.serve.worker import unpack
from tests.test_app import TIMEOUT, open_page, poll, status, step_of


@pytest.fixture
def app():
    at = AppTest.from_file("../app.py", default_timeout=TIMEOUT)
    yield at
    runner = at.session_state["runner"] if "runner" in at.session_state else None  # noqa: SIM401
    if runner is not None:
        runner.stop(wait=True)
        assert runner.join(5)


def specs(at: AppTest) -> list[dict]:
    """Each chart's spec with its datasets (Streamlit sends those apart, as Arrow) put back."""
    out = []
    for chart in at.get("vega_lite_chart"):
        spec = json.loads(chart.proto.spec)
        spec["datasets"] = {d.name: convert_arrow_bytes_to_pandas_df(d.data.data).to_dict("records")
                            for d in chart.proto.datasets}
        out.append(spec)
    return out


def titled(at: AppTest, title: str) -> list[dict]:
    """The charts whose y axis is `title`."""
    return [s for s in specs(at) if f'"title": "{title}"' in json.dumps(s, default=str)]


def y_scale(spec: dict) -> str:
    """The scale type of the smoothed line's y axis."""
    return next(layer["encoding"]["y"]["scale"]["type"] for layer in spec["layer"]
                if layer.get("encoding", {}).get("y", {}).get("field") == "smoothed")


def marks_of(spec: dict) -> list[dict]:
    """The rows of a chart's marks (events and the ★ best)."""
    return [row for name, rows in spec["datasets"].items() if name.startswith(MARKS) for row in rows]


def data_of(spec: dict) -> list[dict]:
    return spec["datasets"][spec["data"]["name"]]


def test_the_panel_draws_gradient_norm_and_ratio_per_layer_with_the_guide_band(app: AppTest) -> None:
    open_page(app, model="mlp", optimizer="adam", lr="0.01", epochs="40", size="8")
    app.button(key="start").click().run()
    poll(app, lambda s: "completed" in s, "the run to complete")
    grad, ratio = titled(app, "gradient norm"), titled(app, "update / weight")
    assert len(grad) == 1 and len(ratio) == 1
    series = {row["series"] for row in data_of(ratio[0])}
    assert series == {"whole model", "net.0", "net.2", "net.4"}
    rows = {row["series"]: row for row in data_of(grad[0])}
    assert set(rows) == series
    band = [d for d in ratio[0]["datasets"].values() if d and "lo" in d[0]]
    assert band == [[{"lo": 1e-4, "hi": 1e-2}]]
    assert any("1e-3 per step" in c.value for c in app.caption)
    assert y_scale(ratio[0]) == "log"
    assert "★ best" in json.dumps(ratio[0]["datasets"], default=str, ensure_ascii=False)
    app.toggle(key="log_y").set_value(False).run()  # the panel follows the page's log-y
    assert y_scale(titled(app, "update / weight")[0]) == "linear"


def kept_loss(runner) -> float:
    """The loss the weights a run ended with give on its (only) batch, computed here."""
    cfg = runner.snapshot().config
    trainer = Trainer(cfg, build(cfg))
    trainer.load_state_dict(unpack(runner._saved))
    x, y = next(iter(trainer.b.loader))
    with torch.no_grad():
        return float(trainer.b.criterion(trainer.b.model(x), y))


def test_a_diverged_run_shows_its_autopsy_and_retries_from_the_kept_weights(app: AppTest) -> None:
    open_page(app, model="mlp", optimizer="sgd", lr="30", epochs="300", size="8")
    app.button(key="start").click().run()
    line = poll(app, lambda s: "diverged" in s, "divergence")
    diverged = step_of(line)
    text = " ".join(m.value for m in app.markdown)
    assert f"Autopsy of step {diverged}" in text and "`net." in text
    assert "diverged" in json.dumps(specs(app), default=str)  # the step is marked on the charts
    runner = app.session_state["runner"]
    want = kept_loss(runner)

    app.button(key="retry_lower_lr").click().run()
    line = poll(app, lambda s: "step " in s and step_of(s) > diverged and "lr 3" in s,
                "the retry to step on")
    assert app.number_input(key="w_lr").value == pytest.approx(3.0)  # the sidebar holds its rate
    first = runner.rows_since(diverged)
    assert first["step"][0] == diverged + 1 and first["lr"][0] == pytest.approx(3.0)
    assert first["loss"][0] == pytest.approx(want, rel=1e-5)
    ended = poll(app, lambda s: any(w in s for w in ("completed", "diverged", "setup changed")),
                 "the retry to end")
    assert "setup changed" not in ended  # its rate is the run's own, not a new setup


def test_restart_starts_over_from_the_initial_weights(app: AppTest) -> None:
    open_page(app, model="mlp", optimizer="sgd", lr="1000", epochs="300", size="8")
    app.button(key="start").click().run()
    poll(app, lambda s: "diverged" in s, "divergence")
    runner = app.session_state["runner"]
    before = runner.rows_since(0)
    run_id = runner.snapshot().run_id
    app.button(key="restart_initial").click().run()
    poll(app, lambda s: runner.snapshot().run_id > run_id and "diverged" in s, "the restart to end")
    again = runner.rows_since(0)
    assert again["step"][0] == 1 and again["loss"][0] == before["loss"][0]  # the same first weights
    assert "lr 1000" in status(app)


def loss_chart(at: AppTest) -> dict:
    """The lesson's loss chart (its raw loss layer is drawn on the y field "loss")."""
    return next(s for s in specs(at) if any(
        layer.get("encoding", {}).get("y", {}).get("field") == "loss" for layer in s["layer"]))


def loss_scale(spec: dict) -> str:
    return next(layer["encoding"]["y"]["scale"]["type"] for layer in spec["layer"]
                if layer.get("encoding", {}).get("y", {}).get("field") == "loss")


@pytest.mark.parametrize("query", [{"task": "line", "epochs": "30"},
                                   {"task": "classify", "samples": "60", "epochs": "3",
                                    "patience": "0"}], ids=["line", "classify"])
def test_the_lessons_charts_follow_log_y_and_smoothing(app: AppTest, query: dict) -> None:
    open_page(app, **query)
    app.button(key="start").click().run()
    poll(app, lambda s: "completed" in s, "the lesson's run to complete", timeout=60)
    assert loss_scale(loss_chart(app)) == "log"
    app.slider(key="smoothing").set_value(0.0).run()
    raw = data_of(loss_chart(app))
    app.slider(key="smoothing").set_value(0.95).run()
    smooth = data_of(loss_chart(app))
    assert raw != smooth  # the smoothed line moved
    app.toggle(key="log_y").set_value(False).run()
    assert loss_scale(loss_chart(app)) == "linear"
    assert titled(app, "update / weight")  # the diagnostics panel is there too


def test_a_long_run_s_autopsy_draws_the_steps_before_it(app: AppTest) -> None:
    open_page(app, model="pixels", optimizer="sgd", lr="1.02", epochs="300", size="16")
    app.button(key="start").click().run()
    diverged = step_of(poll(app, lambda s: "diverged" in s, "divergence after many steps"))
    assert diverged > 60
    assert any("The 60 steps before it" in c.value for c in app.caption)
    windows = [data_of(s) for s in titled(app, "gradient norm")]
    assert len(windows) == 2  # the autopsy's window, then the whole run's panel
    steps = [row["step"] for row in windows[0]]
    assert min(steps) == diverged - 59 and max(steps) <= diverged
    assert min(row["step"] for row in windows[1]) == 1


def test_while_a_run_trains_the_diagnostics_take_new_data_once_a_second(app: AppTest,
                                                                         monkeypatch) -> None:
    """The loss chart gets new rows at every redraw; the diagnostics charts keep the same data
    (the same bytes: the browser redraws nothing) until REDRAW_S has passed, then catch up."""
    from playground.ui import diagnostics

    clock = [1000.0]  # the panel's clock alone: the runner and the test's deadlines keep real time
    monkeypatch.setattr(diagnostics, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    open_page(app, model="mlp", optimizer="adam", lr="0.001", epochs="1000000", size="8")
    app.button(key="start").click().run()
    first = poll(app, lambda s: "running" in s and step_of(s) > 20, "the run to train")
    before = data_of(titled(app, "gradient norm")[0])
    whole, best = json.dumps(titled(app, "gradient norm")[0], default=str), marks_of(loss_chart(app))
    later = poll(app, lambda s: "running" in s and step_of(s) > step_of(first) + 20 and
                 marks_of(loss_chart(app)) != best, "more steps and a new best checkpoint")
    assert step_of(later) > step_of(first)
    assert data_of(titled(app, "gradient norm")[0]) == before  # within REDRAW_S: unchanged
    # its marks too: the ★ best moved on the loss chart, and a new mark is a new chart to redraw
    assert json.dumps(titled(app, "gradient norm")[0], default=str) == whole
    clock[0] += diagnostics.REDRAW_S
    app.run()
    after = data_of(titled(app, "gradient norm")[0])
    assert after[-1]["step"] > before[-1]["step"]  # a second later: the new steps are there


def test_a_paused_page_redraws_its_charts_without_building_their_data_again(app: AppTest,
                                                                            monkeypatch) -> None:
    """A page with nothing new (paused, or queued behind other sessions) sends each chart the same
    Arrow bytes under the same name, built once: with 50 sessions, building and encoding them at
    every redraw was most of the server's work (ui/chart_data.py)."""
    from playground.charts import diagnostics as diagnostics_charts
    from playground.charts import run as run_charts

    open_page(app, model="mlp", optimizer="adam", lr="0.001", epochs="1000000", size="8")
    app.button(key="start").click().run()
    poll(app, lambda s: "running" in s and step_of(s) > 20, "the run to train")
    app.button(key="pause").click().run()
    poll(app, lambda s: "paused" in s, "the run to pause")
    app.run()
    sent = [(c.proto.spec, [(d.name, d.data.data) for d in c.proto.datasets])
            for c in app.get("vega_lite_chart")]
    built = []
    for module, name in ((run_charts, "loss_frame"), (diagnostics_charts, "diagnostics_frame")):
        real = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, real=real, name=name, **k: (
            built.append(name), real(*a, **k))[1])
    for _ in range(3):
        app.run()
        assert not app.exception, app.exception
        assert "paused" in status(app)
        assert [(c.proto.spec, [(d.name, d.data.data) for d in c.proto.datasets])
                for c in app.get("vega_lite_chart")] == sent
    assert len(sent) >= 3 and not built, built  # the loss chart and both diagnostics charts
