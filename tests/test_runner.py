"""A session's run in the worker pool: controls, snapshots, limits, queueing and turns, faults that
stay contained, and the same seed giving the same run at any concurrency."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

from playground import RunConfig, train
from playground.history import Table, thin
from playground.serve import MemoryBudget, Pool, Runner, RunRefused
from playground.serve.limits import Limits
from playground.serve.pool import CRASHED
from tests.helpers import stays, wait_until

LONG = RunConfig(model="mlp", lr=0.01, epochs=1_000_000, size=8, pace=0)
BUDGET = MemoryBudget(256, 1536)


@pytest.fixture(scope="module")
def pool1():
    """One worker that makes runs take turns every 0.2 s while others wait."""
    p = Pool(1, Limits(turn_seconds=0.2))
    assert p.wait_ready(180)
    yield p
    p.close()


@pytest.fixture
def runner(pool: Pool):
    r = Runner(Limits(), pool, BUDGET)
    yield r
    r.stop(wait=True)
    assert r.join(5)


def make(pool: Pool, limits: Limits | None = None, memory: MemoryBudget = BUDGET) -> Runner:
    return Runner(limits or Limits(), pool, memory)


def test_start_produces_history_and_image(runner: Runner) -> None:
    assert runner.start(LONG)
    snap = wait_until(lambda: (s := runner.snapshot()).n_rows >= 20 and s, what="20 steps")
    assert snap.state == "running" and snap.image.shape == (8, 8, 4)
    assert snap.rows["step"][0] == 1 and snap.config == LONG
    assert wait_until(lambda: runner.snapshot().steps_per_second > 0)


def test_first_step_waits_for_the_first_row_and_no_longer(runner: Runner, pool1: Pool) -> None:
    """Start's click waits for the first row (so its rerun draws it), but only up to its timeout:
    a run queued behind another returns after the timeout with nothing."""
    assert runner.start(LONG)
    assert runner.first_step(30) and runner.snapshot().n_rows >= 1
    rs = [make(pool1) for _ in range(3)]
    try:
        assert rs[0].start(LONG) and rs[0].first_step(30)
        assert rs[1].start(LONG) and rs[2].start(LONG)
        if pool1.position(rs[2]._task) == 2:  # second in the queue: no wait at all
            t0 = time.monotonic()
            assert not rs[2].first_step(30) and time.monotonic() - t0 < 5
        t0 = time.monotonic()
        assert not rs[1].first_step(0.05) or rs[1].snapshot().n_rows >= 1
        assert time.monotonic() - t0 < 5  # bounded by its timeout, whatever the machine's load
    finally:
        for r in rs:
            r.stop(wait=True)


def test_start_twice_keeps_one_run(runner: Runner, pool: Pool) -> None:
    assert runner.start(LONG)
    assert not runner.start(LONG)
    assert not runner.start(LONG.replace(lr=0.1))
    wait_until(lambda: runner.snapshot().n_rows > 0)
    assert sum(w.task is runner._task for w in pool.workers) == 1 and pool.position(runner._task) == 0


def test_pause_holds_the_step_count_and_step_advances_by_one(runner: Runner) -> None:
    runner.start(LONG)
    wait_until(lambda: runner.snapshot().n_rows > 5)
    runner.pause()
    wait_until(lambda: runner.snapshot().state == "paused", what="paused")
    n = runner.snapshot().n_rows
    assert stays(lambda: runner.snapshot().n_rows == n, 0.3)
    for k in (1, 2, 3):  # each Step is exactly one more step, however often it is pressed
        runner.step_once()
        seen = []  # every look from the Step on: the step it shows and the state beside it
        wait_until(lambda k=k, seen=seen: seen.append(look(runner)) or seen[-1][0] == n + k, interval=0.001,
                   what=f"step {k}")
        assert stays(lambda k=k, seen=seen: seen.append(look(runner)) or seen[-1][0] == n + k, 0.2, 0.001)
        # The stepped row never shows beside "running" (the page would say it ran on).
        assert {state for rows, state in seen if rows == n + k} == {"paused"}, seen
    runner.resume()
    wait_until(lambda: runner.snapshot().n_rows > n + 13, what="resume")


def look(runner: Runner) -> tuple[int, str]:
    snap = runner.snapshot(max_points=2)
    return snap.n_rows, snap.state


def test_step_before_start_does_exactly_one_step(runner: Runner) -> None:
    runner.step_once(LONG)
    wait_until(lambda: runner.snapshot().n_rows == 1)
    assert stays(lambda: runner.snapshot().n_rows == 1, 0.2)
    assert runner.snapshot().state == "paused"


def test_live_lr_change_is_applied_and_marked(runner: Runner) -> None:
    runner.start(LONG)
    wait_until(lambda: runner.snapshot().n_rows > 5)
    runner.set_lr(0.001)
    snap = wait_until(lambda: (s := runner.snapshot()).last.lr == pytest.approx(0.001) and s)
    assert snap.events and snap.events[0][1:] == ("lr", 0.001)
    assert snap.base_lr == 0.001


def test_a_new_lr_is_not_undone_by_an_update_the_worker_sent_before_reading_it(runner: Runner) -> None:
    """The page follows snapshot.base_lr (the live LR box, the sidebar sync): a stale update must
    not flip it back to the old rate for a moment (the box then showed the old value mid-typing)."""
    from playground.serve.worker import News

    runner.start(LONG, paused=True)
    task = runner._task
    runner.set_lr(0.001)
    runner.received(task, ("update", task.id, None, News(base_lr=LONG.lr)))  # sent before it read
    assert runner.snapshot().base_lr == 0.001
    runner.received(task, ("update", task.id, None, News(base_lr=0.001)))  # the worker has it
    runner.received(task, ("update", task.id, None, News(base_lr=0.002)))  # and later rates count
    assert runner.snapshot().base_lr == 0.002


def test_stop_ends_the_thread(runner: Runner) -> None:
    runner.start(LONG)
    wait_until(lambda: runner.snapshot().n_rows > 0)
    runner.stop(wait=True)
    assert not runner.alive
    assert runner.snapshot().state == "stopped"


def test_reset_gives_the_same_initial_weights_for_the_same_seed(runner: Runner) -> None:
    runner.reset(LONG)
    first = runner.snapshot().image.copy()
    runner.start(LONG)
    wait_until(lambda: runner.snapshot().n_rows > 50)
    runner.reset(LONG)
    snap = runner.snapshot()
    assert snap.state == "ready" and snap.n_rows == 0
    assert (snap.image == first).all()


def test_divergence_stops_and_explains(runner: Runner) -> None:
    runner.start(RunConfig(model="mlp", optimizer="sgd", lr=1000.0, epochs=500, size=8))
    snap = wait_until(lambda: (s := runner.snapshot()).state == "diverged" and s)
    assert snap.message.startswith("diverged at step") and "10x lower" in snap.message
    assert snap.image is not None and np.isfinite(snap.rows["loss"]).all()  # no NaN rows


def test_a_completed_run_leaves_its_worker_free(runner: Runner, pool: Pool) -> None:
    runner.start(RunConfig(model="mlp", epochs=30, size=8, pace=0))
    wait_until(lambda: runner.snapshot().state == "completed")
    assert runner.join(5)
    assert runner.snapshot().n_rows == 30
    assert runner.snapshot().filmstrip[-1][0] == 30
    assert wait_until(lambda: pool.holder(runner._task) is None, what="the worker given back")


def test_step_budget_stops_with_a_message() -> None:
    p = Pool(1, Limits(max_steps=40))
    r = make(p)
    r.start(LONG)
    snap = wait_until(lambda: (s := r.snapshot()).state == "stopped" and s)
    assert snap.n_rows == 40 and "limit of 40 steps" in snap.message
    assert r.join(5)
    p.close()


def test_session_release_stops_the_run_after_grace(pool: Pool) -> None:
    r = make(pool, Limits(session_grace=0.05))
    r.start(LONG)
    wait_until(lambda: r.snapshot().n_rows > 0)
    r.abandon()  # what the session's on_release hook calls; no poll follows
    assert r.join(5), "run still alive after its session was released"
    assert "tab was closed" in r.snapshot().message
    assert wait_until(lambda: pool.holder(r._task) is None, what="its worker given back")


def test_a_poll_within_grace_keeps_the_run(pool: Pool) -> None:
    r = make(pool, Limits(session_grace=0.5))
    r.start(LONG)
    r.abandon()
    r.keepalive()  # the page came back (a reconnect)
    assert stays(lambda: r.alive, 0.8)
    r.stop(wait=True)


def test_with_every_worker_busy_a_run_is_queued_then_runs(pool1: Pool) -> None:
    a, b = make(pool1), make(pool1)
    try:
        a.start(LONG)
        wait_until(lambda: a.snapshot().state == "running")
        b.start(LONG)
        snap = wait_until(lambda: (s := b.snapshot()).state == "queued" and s)
        assert snap.queue_position == 1 and snap.n_rows == 0
        a.pause()  # a paused run gives its worker back at once
        wait_until(lambda: b.snapshot().state == "running", what="queued run to start")
    finally:
        a.stop(wait=True)
        b.stop(wait=True)


def test_long_runs_take_turns_so_no_queued_run_starves(pool1: Pool) -> None:
    a, b, c = make(pool1), make(pool1), make(pool1)
    try:
        a.start(LONG)
        wait_until(lambda: a.snapshot().n_rows > 0)
        b.start(LONG)
        c.start(LONG)  # one worker, three endless runs: each gets a turn, then goes to the back
        wait_until(lambda: b.snapshot().n_rows > 0 and c.snapshot().n_rows > 0, what="b and c turns")
        made = a.snapshot().n_rows
        wait_until(lambda: a.snapshot().n_rows > made, what="a's second turn")
        assert all(r.snapshot().state in ("running", "queued") for r in (a, b, c))
    finally:
        for r in (a, b, c):
            r.stop(wait=True)


def test_a_run_paused_while_taking_turns_steps_only_when_asked(pool1: Pool) -> None:
    a, b = make(pool1), make(pool1)
    try:
        a.start(LONG)
        wait_until(lambda: a.snapshot().n_rows > 0)
        b.start(LONG)  # the two now swap the one worker every 0.2 s
        wait_until(lambda: b.snapshot().n_rows > 0, what="b's turn")
        a.pause()
        b.stop(wait=True)  # the worker comes free while a is paused
        wait_until(lambda: a.snapshot().state == "paused", what="a paused")
        n = a.snapshot().n_rows
        assert stays(lambda: a.snapshot().n_rows == n, 0.3), "a paused run stepped"
        a.step_once()
        wait_until(lambda: a.snapshot().n_rows == n + 1, what="exactly one Step")
        assert stays(lambda: a.snapshot().n_rows == n + 1, 0.3)
    finally:
        a.stop(wait=True)
        b.stop(wait=True)


def test_a_class_pressing_start_together_gets_first_steps_before_long_turns() -> None:
    """First turns are short (FIRST_TURN) while others wait, so the last of a queue steps soon
    instead of after every earlier run's full turn (10 s turns here, paced runs to count steps)."""
    p = Pool(1, Limits(turn_seconds=10), warm=False)
    runners = [make(p) for _ in range(4)]
    try:
        assert p.wait_ready(120)
        paced = LONG.replace(pace=10)  # ~1 step in a first turn; a 2.5 s turn would be ~25
        for r in runners:
            assert r.start(paced)
        wait_until(lambda: all(r.snapshot().n_rows > 0 for r in runners), timeout=60,
                   what="every run's first step")
        early = [r.snapshot().n_rows for r in runners[1:-1]]
        assert max(early) <= 8, f"the middle runs had long first turns: {early} steps"
    finally:
        for r in runners:
            r.stop(wait=True)
        p.close()


def test_with_nobody_waiting_a_run_keeps_its_worker_past_its_turn(pool1: Pool) -> None:
    r = make(pool1)
    try:
        r.start(LONG)
        wait_until(lambda: r.snapshot().n_rows > 0)
        worker = pool1.holder(r._task)
        assert stays(lambda: r.snapshot().state == "running" and pool1.holder(r._task) is worker, 0.6)
    finally:
        r.stop(wait=True)


def test_a_paused_run_gives_its_worker_away(pool1: Pool) -> None:
    a, b = make(pool1), make(pool1)
    try:
        a.start(LONG)
        wait_until(lambda: a.snapshot().n_rows > 0)
        a.pause()
        b.start(LONG)
        wait_until(lambda: b.snapshot().n_rows > 0, what="b to get the freed worker")
    finally:
        a.stop(wait=True)
        b.stop(wait=True)


def test_a_run_that_fails_in_its_worker_reports_a_message_not_a_traceback(runner: Runner) -> None:
    runner.reset(LONG)
    runner._saved = b"not a state"  # what the worker is handed cannot be loaded: it raises there
    runner.start(LONG)
    snap = wait_until(lambda: (s := runner.snapshot()).state == "error" and s)
    assert "internal error" in snap.message and "server log" in snap.message
    assert "Traceback" not in snap.message


def test_thin_keeps_the_last_row_and_bounds_the_count() -> None:
    rows = Table(("step",), np.arange(100_000, dtype=float).reshape(-1, 1))
    out = thin(rows, 2000)
    assert len(out) <= 2000 and out["step"][0] == 0 and out.last.step == 99_999
    assert thin(rows.where(rows["step"] < 10), 2000) == rows.where(rows["step"] < 10)


def test_restore_best_checkpoint_of_a_finished_classifier(pool: Pool) -> None:
    cfg = RunConfig.from_dict({"task": "classify", "samples": 60, "epochs": 3, "patience": 0})
    r = make(pool)
    assert not r.restore_best()  # nothing to restore yet
    r.start(cfg)
    wait_until(lambda: r.snapshot().state == "completed")
    assert r.join(5)
    assert r.restore_best()
    snap = r.snapshot()
    assert "Restored the best checkpoint of epoch" in snap.message
    assert snap.view["confusion"].sum() == 12


SMALL = RunConfig(model="mlp", epochs=30, size=8, pace=0)  # ~0.1 MB of tensors; ends in < 1 s


def test_restore_best_names_the_checkpoint_step_of_a_sprite_run(pool: Pool) -> None:
    """Without validation the best checkpoint is the lowest loss of the first and every 10th step:
    the message names that step and its loss, which are the history's at that step."""
    cfg = SMALL.replace(lr=0.01, epochs=35)
    r = make(pool)
    r.start(cfg)
    wait_until(lambda: r.snapshot().state == "completed")
    assert r.join(5) and r.restore_best()
    rows = r.rows_since(0)
    loss = dict(zip(rows["step"].astype(int), rows["loss"], strict=True))
    best = min((1, 10, 20, 30), key=loss.__getitem__)
    assert f"Restored the best checkpoint of step {best} (loss {loss[best]:.4g})." in r.snapshot().message


@pytest.mark.parametrize("cfg", [
    SMALL.replace(lr=0.01, epochs=700),  # 700 rows thinned to 400 keep the odd steps only
    RunConfig.from_dict({"task": "classify", "samples": 60, "epochs": 3, "patience": 0}),
], ids=["sprite", "classify"])
def test_the_snapshot_names_the_best_checkpoint_step_of_the_whole_history(pool: Pool,
                                                                         cfg: RunConfig) -> None:
    """The ★ best mark comes from the run, not from the chart's thinned rows (from those, a sprite
    run of 700 steps read step 1: every 2nd row holds no multiple of 10)."""
    import pandas as pd

    from playground.charts.annotations import best_step
    from playground.ui import diagnostics

    r = make(pool)
    r.start(cfg)
    wait_until(lambda: r.snapshot().state == "completed")
    assert r.join(5)
    rows = r.rows_since(0)
    full = pd.DataFrame({c: rows[c] for c in rows.columns})
    expected = best_step(full, cfg.monitor)
    snap = r.snapshot(max_points=400)
    assert expected is not None and expected > 1 and snap.best_step == expected
    assert [step for step, label, *_ in diagnostics.marks(snap) if label == "★ best"] == [expected]


def test_a_run_over_the_per_run_memory_cap_is_refused_with_a_reason(pool: Pool) -> None:
    r = make(pool, memory=MemoryBudget(per_run_mb=0.2, total_mb=100))
    with pytest.raises(RunRefused, match=r"needs \d\.\d MB; this server allows 0\.2 MB per run\. Choose"):
        r.start(SMALL)
    assert not r.alive and r.snapshot().state == "idle"


def test_a_new_run_frees_the_weights_of_the_oldest_ended_run(pool: Pool) -> None:
    probe = make(pool, memory=MemoryBudget(100, 100))
    probe.reset(SMALL)
    one = probe.held_bytes() / 2**20
    budget = MemoryBudget(per_run_mb=100, total_mb=1.5 * one)  # room for one run, not two
    a, b = make(pool, memory=budget), make(pool, memory=budget)
    a.start(SMALL)
    assert a.join(10) and a.snapshot().state == "completed" and a.checkpoint()
    b.start(SMALL)  # takes a's memory: a ended, so its weights go, its curve and picture stay
    assert b.join(10) and a.held_bytes() == 0 and b.held_bytes() > 0
    snap = a.snapshot()
    assert snap.n_rows == SMALL.total_steps and snap.image is not None and snap.state == "completed"
    assert a.checkpoint() is None and not a.restore_best()
    assert "weights were freed to make room" in a.snapshot().message
    a.start(SMALL)  # training again rebuilds a's weights (and frees b's)
    assert a.join(10) and a.snapshot().state == "completed" and b.held_bytes() == 0


def test_a_run_is_refused_while_live_runs_hold_the_memory(pool: Pool) -> None:
    probe = make(pool, memory=MemoryBudget(100, 100))
    probe.reset(LONG)
    budget = MemoryBudget(per_run_mb=100, total_mb=1.5 * probe.held_bytes() / 2**20)
    a, b = make(pool, memory=budget), make(pool, memory=budget)
    try:
        a.start(LONG)
        wait_until(lambda: a.snapshot().n_rows > 0)
        with pytest.raises(RunRefused, match="The server is busy: other sessions' runs hold"):
            b.start(LONG)
        assert a.alive and a.held_bytes() > 0 and not b.alive
    finally:
        a.stop(wait=True)


def test_a_paced_run_steps_no_faster_than_its_pace_and_a_new_pace_applies_live(runner: Runner) -> None:
    runner.start(LONG.replace(pace=40))
    wait_until(lambda: runner.snapshot().n_rows >= 1)
    t0, n0 = time.monotonic(), runner.snapshot().n_rows
    wait_until(lambda: runner.snapshot().n_rows >= n0 + 8, timeout=30)
    assert time.monotonic() - t0 >= 7 / 40 - 0.05  # 8 steps at 40 a second: 0.175 s (a missed
    # beat may be made up by at most 0.05 s)
    runner.set_pace(0)  # flat out from now on: thousands of steps a second
    n1 = runner.snapshot().n_rows
    wait_until(lambda: runner.snapshot().n_rows >= n1 + 500, timeout=30, what="full speed")
    runner.pause()
    held = wait_until(lambda: (s := runner.snapshot()).state == "paused" and s.n_rows)
    assert stays(lambda: runner.snapshot().n_rows == held, 0.2)


def test_a_killed_worker_ends_only_its_own_run_and_the_next_start_works(pool: Pool) -> None:
    a, b = make(pool), make(pool)
    try:
        a.start(LONG)
        b.start(LONG)
        wait_until(lambda: a.snapshot().n_rows > 0 and b.snapshot().n_rows > 0, what="both running")
        worker = pool.holder(a._task)
        assert worker is not None and worker is not pool.holder(b._task)
        os.kill(worker.pid, signal.SIGKILL)
        snap = wait_until(lambda: (s := a.snapshot()).state == "error" and s, what="a's sentence")
        assert snap.message == CRASHED
        n = b.snapshot().n_rows
        wait_until(lambda: b.snapshot().n_rows > n + 50 and b.snapshot().state == "running",
                   what="b untouched")
        assert pool.wait_ready(120), "no replacement worker"
        assert a.start(LONG)
        wait_until(lambda: a.snapshot().n_rows > 10, timeout=60, what="a trains again")
    finally:
        a.stop(wait=True)
        b.stop(wait=True)


def test_four_runs_at_once_match_the_same_run_alone_bit_for_bit(pool: Pool) -> None:
    """Two workers, four runs, turns every 0.2 s (each run parks and moves between workers)."""
    cfg = RunConfig(model="coord", size=8, epochs=150, batch_size=16, pace=0)
    alone = train(cfg).history["loss"].tolist()
    turns = Pool(2, Limits(turn_seconds=0.2))
    try:
        assert turns.wait_ready(180)
        runs = [make(turns) for _ in range(4)]
        for r in runs:
            r.start(cfg)
        for r in runs:
            assert r.join(120)
        for r in runs:
            snap = r.snapshot(max_points=10**6)
            assert snap.state == "completed" and snap.rows["loss"].tolist() == alone
    finally:
        turns.close()
