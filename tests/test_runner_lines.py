"""Stepping by line in the worker pool: a paused run runs one line per press in a worker (parking
between presses), its snapshot carries the line and what it touched, and the numbers equal a
run stepped the ordinary way."""

from __future__ import annotations

import numpy as np
import pytest

from playground import RunConfig
from playground.engine import Trainer
from playground.loop_lines import LINES
from playground.serve import MemoryBudget, Pool, Runner
from playground.serve.limits import Limits
from tests.helpers import stays, wait_until

CFG = RunConfig(model="coord", optimizer="adam", lr=0.01, epochs=1000, size=8, batch_size=16, pace=0)


@pytest.fixture
def runner(pool: Pool):
    r = Runner(Limits(), pool, MemoryBudget(256, 1536))
    yield r
    r.stop(wait=True)
    assert r.join(5)


def line_shown(runner: Runner, name: str, step: int) -> bool:
    snap = runner.snapshot(max_points=2)
    return (snap.line is not None and snap.line.name == name and snap.line.step == step
            and snap.state == "paused")


def test_a_paused_run_steps_by_line_in_a_worker_and_its_snapshot_carries_the_line(
        runner: Runner) -> None:
    runner.step_once(CFG)  # one ordinary step first: a paused run with a history
    wait_until(lambda: runner.snapshot().n_rows == 1 and runner.snapshot().state == "paused")
    assert runner.snapshot().line is None
    for name in LINES:  # each press runs exactly one line, in a worker, then the run parks again
        runner.step_once(by_line=True)
        wait_until(lambda name=name: line_shown(runner, name, 2), what=f"line {name}")
        snap = runner.snapshot()
        assert snap.n_rows == (2 if name == "step" else 1)  # only `step` writes a history row
        assert stays(lambda name=name: runner.snapshot().line.name == name, 0.2)
    line = runner.snapshot().line
    assert line.row is not None and line.row.last.step == 2
    assert {p.kind for p in line.pictures} >= {"update", "exp_avg", "exp_avg_sq"}
    assert line.members["kind"] == "pixels" and line.members["mask"].sum() == 16
    # the same numbers as two ordinary steps of the same config
    plain = Trainer(CFG)
    plain.step()
    row = plain.step()
    assert runner.snapshot().rows["loss"][-1] == row.loss == line.row.last.loss
    runner.step_once()  # an ordinary Step afterwards: a whole step, and the line view goes
    wait_until(lambda: (s := runner.snapshot()).n_rows == 3 and s.line is None and s.state == "paused")


def test_a_step_pressed_mid_iteration_finishes_the_iteration_shown(runner: Runner) -> None:
    runner.step_once(CFG, by_line=True)  # by line before Start: a paused run is started
    wait_until(lambda: line_shown(runner, "zero_grad", 1), what="zero_grad")
    runner.step_once(by_line=True)
    wait_until(lambda: line_shown(runner, "forward", 1), what="forward")
    forward = runner.snapshot().line
    runner.step_once()
    wait_until(lambda: runner.snapshot().n_rows == 1 and runner.snapshot().state == "paused")
    plain = Trainer(CFG)
    assert runner.snapshot().rows["loss"][0] == plain.step().loss
    runner.step_once(by_line=True)  # a fresh iteration: its batch is the second one
    wait_until(lambda: line_shown(runner, "zero_grad", 2), what="next iteration")
    assert not np.array_equal(runner.snapshot().line.members["mask"], forward.members["mask"])


def test_lbfgs_refuses_by_line_with_one_sentence(runner: Runner) -> None:
    runner.step_once(CFG.replace(optimizer="lbfgs", lr=0.5), by_line=True)
    wait_until(lambda: "LBFGS" in runner.snapshot().message, what="the refusal")
    snap = runner.snapshot()
    assert snap.n_rows == 0 and snap.line is None
    wait_until(lambda: runner.snapshot().state == "paused")
