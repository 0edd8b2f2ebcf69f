"""The load machinery on a tiny scale, in CI: 3 protocol-level sessions against a real server.

Two worker processes train, so a session must be told it is queued, and with turns all three get
steps (a run's first turn is short while others wait); every page must load,
health must answer within 1 s, and after the tabs close the runs must end within the (shortened)
session grace and the server's thread count return to its baseline. The long load and soak
runs are `benchmarks/load.py`, not tests.
"""

from __future__ import annotations

from benchmarks import load

OPTS = load.Options(sessions=3, seconds=6.0, epochs=1_000_000, workers=2, session_grace=1.0,
                    session_ttl=1, load_timeout=60.0, settle_timeout=20.0)


def test_three_sessions_load_queue_and_release_their_threads() -> None:
    r = load.measure(OPTS)
    assert r.loaded == 3 and not r.errors, r.errors
    assert not r.exceptions, r.exceptions
    health = r.health["open"] + r.health["train"]
    assert health and r.health_failures == 0
    assert max(health) < load.GOAL_HEALTH_S, f"health answered in {max(health):.2f} s"
    assert r.sessions_queued >= 1, r.sessions_queued  # 3 runs, 2 workers: someone waits its turn
    assert len(r.first_step_s) == 3, r.first_step_s  # ...and every page saw its run step
    # Start is one whole-page run per session; flipping between queued and running as the runs take
    # turns only retimes the live view (ui/pace.py): a whole-page run per flip was a class's CPU
    assert r.full_runs <= OPTS.sessions, f"{r.full_runs} whole-page runs for {OPTS.sessions} Starts"
    assert r.steps_total > 0
    res = r.resources
    assert r.threads_back_s is not None, res  # ...and ended after close + grace
    assert res["after_grace"]["threads"] <= res["idle"]["threads"] + load.THREAD_SLACK, res
    assert res["after_ttl"]["threads"] <= res["baseline"]["threads"] + load.THREAD_SLACK, res
