"""The live stream's route and payload: what a running run's view fetches instead of rerunning."""

from __future__ import annotations

import asyncio
import gc
import json
import math
from dataclasses import replace

import numpy as np
import pytest
from starlette.requests import Request
from starlette.routing import Route

from playground import RunConfig
from playground.charts import run as charts
from playground.history import COLUMNS, Table
from playground.serve import MemoryBudget, Pool, Runner
from playground.serve.limits import Limits
from playground.serve.snapshot import Snapshot
from playground.ui import stream
from tests.helpers import stays, wait_until

LONG = RunConfig(model="mlp", lr=0.01, epochs=1_000_000, size=8, pace=0)


def table(losses: list[float], lrs: list[float] | None = None) -> Table:
    """History rows of steps with these losses (and rates)."""
    n = len(losses)
    data = np.zeros((n, len(COLUMNS)))
    data[:, 0] = data[:, 1] = np.arange(1, n + 1)
    data[:, 2] = losses
    data[:, 3] = lrs if lrs is not None else 0.01
    return Table(COLUMNS, data)


def snapshot(losses: list[float], state: str = "running", **kw) -> Snapshot:
    """A snapshot of a run whose steps had these losses."""
    rows = table(losses)
    n = len(losses)
    return Snapshot(run_id=3, state=state, rows=rows, n_rows=n, image=None, filmstrip=[], events=[],
                    steps_per_second=1234.0, total_steps=500, config=LONG, **kw)


def get(token: str, query: str = "") -> tuple[int, dict, dict]:
    """(status, JSON body, headers) of one GET of the stream route, called as Starlette would."""
    route = Route(stream.ROUTE, stream._serve)  # (stream.routes() would switch streaming on)
    match = route.path_regex.match(f"/_pp/stream/{token}")
    assert match, "the route does not match its own path"
    request = Request({"type": "http", "method": "GET", "path": f"/_pp/stream/{token}",
                       "path_params": match.groupdict(), "query_string": query.encode(),
                       "headers": []})
    response = asyncio.run(stream._serve(request))
    return response.status_code, json.loads(response.body), dict(response.headers)


def test_the_payload_draws_what_the_charts_draw() -> None:
    """The curves are charts.loss_frame's columns (smoothed as the axis shows them); a loss past
    the ceiling or not a number is marked blown and drawn at the ceiling, never sent as NaN."""
    losses = [1.0, 0.5, 0.25, float("nan"), 0.1]
    snap = snapshot(losses)
    body = stream.payload(snap, log_y=True, smoothing=0.6)
    frame = charts.loss_frame(charts.history_frame(snap.rows), 0.6, True)
    chart = body["chart"]
    assert chart["step"] == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert chart["smoothed"] == pytest.approx(frame["smoothed"].tolist())
    assert chart["loss"] == pytest.approx(frame["loss"].tolist()) and chart["blown"] == [3]
    assert chart["lr"] is None, "a constant rate needs no LR chart"
    json.dumps(body, allow_nan=False)  # what Starlette's JSONResponse demands


def test_the_status_line_is_the_pages_own_and_escaped() -> None:
    snap = snapshot([2.0, 1.0])
    assert stream.status_text(snap) == ("🟢 **running** · step 2 / 500 · epoch 2 · loss 1 · lr 0.01 "
                                        "· 1,234 steps/s")
    assert stream.payload(snap, True, 0.6)["status"].startswith("🟢 <strong>running</strong> · step 2")
    assert stream._bold("<b>**x**</b>") == "&lt;b&gt;<strong>x</strong>&lt;/b&gt;"


def test_a_page_that_has_the_version_gets_only_the_state() -> None:
    snap = snapshot([2.0, 1.0])
    full = stream.payload(snap, True, 0.6)
    assert stream.payload(snap, True, 0.6, have=full["version"]) == {
        "state": "running", "version": full["version"], "status": full["status"]}
    assert "chart" in stream.payload(snap, False, 0.6, have=full["version"]), \
        "a new axis must redraw the curves"


def test_a_queued_page_gets_its_new_place_without_its_curves_again() -> None:
    """The place in the queue is in the status line; the curves of the same rows are not resent."""
    first = stream.payload(snapshot([2.0, 1.0], state="queued", queue_position=3), True, 0.6)
    later = stream.payload(snapshot([2.0, 1.0], state="queued", queue_position=2), True, 0.6,
                           have=first["version"])
    assert "position 2" in later["status"] and "chart" not in later and "pictures" not in later


def test_a_moving_rate_sends_its_line_and_axis() -> None:
    snap = snapshot([2.0, 1.0, 0.5])
    snap = replace(snap, rows=table([2.0, 1.0, 0.5], [0.1, 0.01, 0.001]))
    chart = stream.payload(snap, True, 0.6)["chart"]
    assert chart["lr"] == pytest.approx([0.1, 0.01, 0.001]) and chart["lr_log"] is True


@pytest.mark.parametrize(("text", "expected"), [
    ("0.3", 0.3), ("2", 0.99), ("-1", 0.0), ("nan", 0.6), ("inf", 0.6), ("junk", 0.6), (None, 0.6)])
def test_smoothing_from_the_page_is_held_in_range(text: str | None, expected: float) -> None:
    assert stream._smoothing(text) == expected


def test_an_unknown_token_gets_a_sentence_not_a_run() -> None:
    status, body, _ = get("not-a-token")
    assert status == 404 and "reload the page" in body["error"]


@pytest.fixture
def runner(pool: Pool):
    r = Runner(Limits(session_grace=0.5), pool, MemoryBudget(256, 1536))
    yield r
    r.stop(wait=True)


def test_the_route_serves_its_sessions_run_and_keeps_it_alive(runner: Runner) -> None:
    """A poll reads this token's run (uncached), and counts as the page being open: a run whose
    session went away survives its grace while its stream is polled."""
    token = "t-" + "x" * 30
    stream._RUNNERS[token] = runner
    assert runner.start(LONG)
    wait_until(lambda: runner.snapshot().n_rows >= 5, what="5 steps")
    status, body, headers = get(token, "log_y=0&smoothing=0.2")
    assert status == 200 and body["state"] == "running" and headers["cache-control"] == "no-store"
    assert body["version"].endswith(":0:0.2") and len(body["chart"]["step"]) >= 5
    assert 'alt="generated"' in body["pictures"]
    runner.abandon()  # the websocket went away
    assert stays(lambda: get(token)[0] == 200 and runner.alive, 1.0), "a polled run was stopped"
    _, again, _ = get(token, f"log_y=0&smoothing=0.2&have={body['version']}")
    assert again["version"] != body["version"] and "chart" in again, "the run moved on"


def test_the_registry_forgets_a_sessions_runner_with_it(pool: Pool) -> None:
    r = Runner(Limits(), pool, MemoryBudget(256, 1536))
    stream._RUNNERS["gone"] = r
    del r
    gc.collect()
    assert "gone" not in stream._RUNNERS and get("gone")[0] == 404


def test_finite_turns_every_non_number_into_a_gap() -> None:
    assert stream._finite([1.0, math.nan, math.inf, -math.inf, 2]) == [1.0, None, None, None, 2.0]


@pytest.mark.parametrize("per_epoch", [1, 3, 7, 50])
def test_epoch_starts_on_arrays_match_the_charts(per_epoch: int) -> None:
    """The stream finds the epoch rules on the arrays as charts.epoch_starts does on a frame."""
    step = np.arange(1, 301, dtype=np.float64)
    epoch = np.ceil(step / per_epoch)
    frame = charts.history_frame(Table(COLUMNS, np.column_stack(
        [step, epoch, *np.zeros((len(COLUMNS) - 2, len(step)))])))
    assert stream.epoch_starts(step, epoch) == charts.epoch_starts(frame)
