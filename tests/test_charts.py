"""Chart builders: pure functions of history rows."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from playground.charts import compare, diagnostics, lessons
from playground.charts import run as charts
from playground.charts.common import ZOOM_HINT, ZOOM_ON
from playground.config import RunConfig
from playground.history import COLUMNS, Table
from playground.schedules import SCHEDULES, lr_at, lr_curve

ROWS = [(i, (i - 1) // 4 + 1, 1.0 / i, 0.01, 0.5, math.nan, i * 1e-3) for i in range(1, 41)]


def table(rows: list[tuple]) -> Table:
    """History rows as the runner's snapshots carry them."""
    return Table(COLUMNS, np.array(rows, dtype=float).reshape(-1, len(COLUMNS)))


def test_a_blow_up_is_drawn_at_the_ceiling_and_marked() -> None:
    rows = [*ROWS, (41, 11, 5e9, 0.01, 0.5, math.nan, 0.05), (42, 11, math.inf, 0.01, 0.1,
                                                                math.nan, 0.06)]
    df = charts.history_frame(table(rows))
    assert len(df) == 42  # every step, the blow-up included
    frame = charts.loss_frame(df, 0.6)
    floor, ceiling = charts.loss_range(df["loss"].to_numpy())
    assert ceiling == 1e3 * ROWS[0][2] and frame["blown"].tolist() == [False] * 40 + [True, True]
    assert (frame["loss"].iloc[-2:] == ceiling).all() and frame["smoothed"].max() <= ceiling
    assert frame["true_loss"].iloc[-2] == 5e9 and math.isnan(frame["true_loss"].iloc[-1])
    assert charts.history_frame(table([])).empty


def test_the_floor_follows_the_smallest_loss_and_zero_sits_on_it() -> None:
    tiny = [(i, 1, 10.0 ** -i, 0.01, 0.5, math.nan, 0.0) for i in range(1, 18)]
    df = charts.history_frame(table([*tiny, (18, 1, 0.0, 0.01, 0.0, math.nan, 0.0)]))
    frame = charts.loss_frame(df, 0.9)
    assert frame["loss"].iloc[-2] == pytest.approx(1e-17)  # 7.9e-17 is drawn, not pinned at 1e-12
    assert frame["loss"].iloc[-1] == pytest.approx(1e-18)  # an exact zero sits a decade below
    assert frame["smoothed"].iloc[5] > frame["loss"].iloc[5]  # EMA lags a falling curve


def test_loss_spec_is_cached_and_has_no_main_data() -> None:
    spec = json.loads(charts.loss_spec(True, epochs=True))
    assert "data" not in spec and not spec.get("datasets")  # the epochs are data: with_epochs
    assert spec["layer"][0]["encoding"]["y"]["scale"]["type"] == "log"
    assert charts.loss_spec(True, True) is charts.loss_spec(True, True)
    linear = json.loads(charts.loss_spec(False))
    assert linear["layer"][0]["encoding"]["y"]["scale"]["type"] == "linear"


def test_epoch_rules_are_data_filled_per_draw_under_a_name_per_set() -> None:
    """One cached spec serves every epoch of a run (it was rebuilt at every new epoch)."""
    filled = [charts.with_epochs(json.loads(charts.loss_spec(True, True)), starts)
              for starts in ((4, 8), (4, 8, 12))]
    names = [[n for n in spec["datasets"] if n.startswith(charts.EPOCHS)] for spec in filled]
    assert all(len(n) == 1 for n in names) and names[0] != names[1]
    assert filled[1]["datasets"][names[1][0]]["step"].tolist() == [4, 8, 12]
    readers = [layer for layer in filled[1]["layer"] if layer.get("data") == {"name": names[1][0]}]
    assert len(readers) == 1 and readers[0]["mark"]["type"] == "rule"


def test_with_data_names_the_dataset() -> None:
    df = charts.history_frame(table(ROWS))
    spec = charts.with_data(charts.lr_spec(False), df[["step", "lr"]], "lr-1-40")
    assert spec["data"] == {"name": "lr-1-40"}
    assert spec["datasets"]["lr-1-40"] is not None


def test_epoch_starts_only_when_epochs_span_steps() -> None:
    df = charts.history_frame(table(ROWS))
    assert charts.epoch_starts(df) == [4, 8, 12, 16, 20, 24, 28, 32, 36]
    one_per_step = charts.history_frame(table([(i, i, 1.0, 0.1, 0.1, math.nan, 0.0) for i in range(1, 9)]))
    assert charts.epoch_starts(one_per_step) == []


def test_error_map_is_dark_when_right_and_bright_when_wrong() -> None:
    a = np.zeros((4, 4, 4), np.uint8)
    b = a.copy()
    b[0, 0] = 255
    err = charts.error_map(a, b)
    assert err.shape == (4, 4, 3) and err.dtype == np.uint8
    assert err[1, 1].sum() < 10 and err[0, 0].sum() > 400


def test_altair_charts_build() -> None:
    df = charts.history_frame(table(ROWS))
    assert charts.loss_chart(df, events=[(5, "lr", 0.1)]).to_dict()["layer"]
    assert charts.lr_chart(df).to_dict()["mark"]["type"] == "line"
    assert charts.schedule_chart(lr_curve(RunConfig(schedule="step"))).to_dict()["mark"]["type"] == "line"
    assert not charts.lr_log_scale(pd.DataFrame({"lr": [0.1, 0.05]}))
    assert charts.lr_log_scale(pd.DataFrame({"lr": [0.1, 0.001]}))


def y_scale(spec: dict) -> str:
    """The y scale type of an LR chart's spec (the line is the first layer when marks are layered)."""
    line = spec["layer"][0] if "layer" in spec else spec
    return line["encoding"]["y"]["scale"]["type"]


@pytest.mark.parametrize("schedule", list(SCHEDULES))
def test_the_run_lr_chart_has_the_preview_axis_from_its_first_steps(schedule: str) -> None:
    cfg = RunConfig(schedule=schedule, optimizer="sgd", lr=0.1, epochs=400, step_size=50)
    early = pd.DataFrame({"step": range(1, 6), "lr": [lr_at(cfg, t) for t in range(5)]})
    preview = y_scale(charts.schedule_chart(lr_curve(cfg)).to_dict())
    live = y_scale(json.loads(charts.lr_spec(charts.run_lr_log_scale(lr_curve(cfg), early))))
    assert live == preview
    if schedule == "cosine":  # the LR falls to ~0: log from the first step, not from half-way
        assert live == "log" and not charts.lr_log_scale(early)


def test_rates_changed_live_beyond_10x_make_the_run_lr_chart_log() -> None:
    changed = pd.DataFrame({"step": [1, 2, 3], "lr": [0.01, 0.01, 1.0]})
    assert charts.run_lr_log_scale(lr_curve(RunConfig()), changed)
    assert not charts.run_lr_log_scale(lr_curve(RunConfig()), changed.iloc[:2])


@pytest.mark.parametrize("spec", [
    lambda: charts.loss_spec(True), lambda: lessons.epoch_loss_spec(), lambda: compare.race_spec(("a",)),
    lambda: diagnostics.diagnostics_spec("grad", True)])
def test_step_charts_zoom_only_with_the_modifier_the_hint_names(spec) -> None:
    params = [p for p in json.loads(spec()).get("params", []) if p.get("bind") == "scales"]
    assert [p["select"]["zoom"] for p in params] == [ZOOM_ON] and "Ctrl" in ZOOM_HINT
    assert params[0]["select"]["encodings"] == ["x"]


def test_the_lesson_loss_legend_wraps_so_validation_is_not_cut() -> None:
    """Four series in one row overflowed a half-page chart and cut 'validation' (seen in a shot)."""
    spec = json.loads(lessons.epoch_loss_spec(smoothed=True))
    legends = [layer["encoding"]["color"]["legend"] for layer in spec.get("layer", [spec])
               if "color" in layer.get("encoding", {}) and layer["encoding"]["color"].get("legend")]
    assert legends and all(legend.get("columns") == 2 for legend in legends)


@pytest.mark.parametrize("n", [0, 1, 2, 149, 150, 151, 400, 1001])
def test_hover_rows_are_few_spread_and_keep_the_newest(n: int) -> None:
    """Tooltips sit on at most ~HOVER_POINTS rows (a redraw interprets each one's encoding in the
    browser), spread evenly, always with the newest row."""
    from playground.charts.common import HOVER_POINTS, hover_rows

    keep = hover_rows(n)
    assert keep.shape == (n,) and keep.sum() <= HOVER_POINTS + 1
    if n:
        assert keep[0] and keep[-1] and (n <= HOVER_POINTS or keep.sum() >= HOVER_POINTS // 2)


def test_the_loss_chart_hovers_on_the_hover_rows_only() -> None:
    df = pd.DataFrame({"step": np.arange(1, 401), "epoch": 1, "loss": np.linspace(1, 0.1, 400),
                       "lr": 0.01})
    frame = charts.loss_frame(df, 0.6)
    assert frame["hover"].sum() < 200 and frame["hover"].iloc[-1]
    spec = json.loads(charts.loss_spec(True))
    tooltips = [layer for layer in spec["layer"] if "tooltip" in layer.get("encoding", {})]
    assert tooltips and all({"filter": "datum.hover"} in layer.get("transform", [])
                            for layer in tooltips)


def test_diagnostics_series_are_thinned_after_smoothing() -> None:
    """Each series is at most SERIES_POINTS rows, and the smoothed line is the full-resolution
    one sampled (thinning first would change what the smoothing means)."""
    n = 5000
    rows = Table(COLUMNS, np.column_stack([np.arange(1, n + 1), np.ones(n), np.ones(n), np.ones(n),
                                           np.linspace(1, 2, n) + np.sin(np.arange(n)),
                                           np.full(n, np.nan), np.zeros(n)]))
    frame = diagnostics.diagnostics_frame("grad", rows, None, smoothing=0.9)
    assert len(frame) <= diagnostics.SERIES_POINTS and frame["step"].iloc[-1] == n
    full = charts.smooth(rows["grad_norm"], 0.9, log=True)  # a log axis: the logs are averaged
    np.testing.assert_allclose(frame["smoothed"], full[frame["step"].to_numpy().astype(int) - 1])
    tips = [layer for layer in json.loads(diagnostics.diagnostics_spec("grad", True))["layer"]
            if "tooltip" in layer.get("encoding", {})]
    assert tips and all({"filter": "datum.hover"} in layer["transform"] for layer in tips)


def test_the_exported_loss_chart_carries_its_epoch_rules_as_plain_json() -> None:
    """training_history.png draws the page's chart from one JSON spec: the epoch rules go in as
    records (a frame there is not JSON), read by the rule layer."""
    from playground.export.history_plot import chart_specs

    df = charts.history_frame(table(ROWS[:20]))  # 4 steps an epoch
    (title, spec_json, _frame), *_ = chart_specs(df, ())
    spec = json.loads(spec_json)
    name = next(n for n in spec["datasets"] if n.startswith(charts.EPOCHS))
    assert title == "Loss" and spec["datasets"][name] == [{"step": s} for s in (4, 8, 12, 16)]


def test_a_log_axis_smooths_the_logarithm_and_a_linear_one_the_values() -> None:
    values = np.array([100.0, 1e-14, 1e-15, 1e-15, 2e-15])
    np.testing.assert_allclose(charts.smooth(values, 0.6, log=True),
                               np.exp(charts.smooth(np.log(values), 0.6)))
    assert charts.smooth(values, 0.6)[1] == pytest.approx((0.6 * 100 + 1e-14) / 1.6)
    np.testing.assert_array_equal(charts.smooth(values, 0.0, log=True), values)  # off is off
    assert np.isfinite(charts.smooth(np.array([1.0, 0.0]), 0.6, log=True)).all()  # never log(0)


def test_the_just_right_drop_is_drawn_at_once_on_a_log_axis() -> None:
    """The "Just right" experiment's loss drops to zero in one step (the diagnostics follow the
    same rule: test_diagnostics_series_are_thinned_after_smoothing). Averaged linearly, the bold
    smoothed line fell about a decade every five steps on the log axis, a slow descent the lesson
    says does not happen; averaged as the axis shows it, it falls with the raw line."""
    from playground import train
    from playground.lessons.experiments import EXPERIMENTS

    df = train(EXPERIMENTS["just_right"].config().replace(pace=0)).history
    loss = df["loss"].to_numpy()
    assert loss[1] <= 1e-9 * loss[0]  # the drop itself (the experiment's own check)
    log_frame = charts.loss_frame(df, 0.6, log_y=True)
    linear_frame = charts.loss_frame(df, 0.6, log_y=False)
    floor, _ = charts.loss_range(loss)
    decades = np.log10(loss[0] / floor)
    fallen = np.log10(loss[0] / log_frame["smoothed"].to_numpy())
    assert fallen[2] >= 0.75 * decades, f"fell {fallen[2]:.1f} of {decades:.1f} decades by step 3"
    assert linear_frame["smoothed"].iloc[2] >= 0.1 * loss[0]  # the linear average still lags
