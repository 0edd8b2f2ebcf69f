"""One Optuna study shared by several `tune` processes through a real PostgreSQL server (a private
cluster this test starts and removes; .ci/run installs Debian's postgresql)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import optuna
import pandas as pd
import pytest

from tests import postgres

ROOT = Path(__file__).resolve().parents[1]
PER_PROCESS = 6


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    """A PostgreSQL URL; skipped locally without PostgreSQL, but never skipped in CI."""
    if postgres.binaries() is None:
        reason = "PostgreSQL (initdb, pg_ctl) is not installed"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI=true, so a missing PostgreSQL is an error, not a skip")
        pytest.skip(reason)
    with postgres.server() as url:
        yield url


def tune_process(url: str, out: Path) -> subprocess.Popen:
    """`python -m playground tune` on the shared study, as a user on another machine would run it."""
    cmd = [sys.executable, "-m", "playground", "tune", "--set", "size=8", "--set", "epochs=40",
           "--search", "lr=1e-4:1:log", "--search", "optimizer=sgd,adam", "--trials",
           str(PER_PROCESS), "--storage", url, "--study", "shared", "--out", str(out), "--quiet"]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def test_two_tune_processes_share_one_study_without_duplicates(database: str,
                                                               tmp_path: Path) -> None:
    procs = [tune_process(database, tmp_path / f"p{i}") for i in range(2)]
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        assert "best value" in out
    study = optuna.load_study(study_name="shared", storage=database)
    trials = study.get_trials(deepcopy=False)
    numbers = [t.number for t in trials]
    assert sorted(numbers) == list(range(2 * PER_PROCESS))  # no duplicates, none missing
    assert all(t.state.is_finished() for t in trials)
    by_worker: dict[str, list[int]] = defaultdict(list)
    for t in trials:
        by_worker[t.user_attrs["worker"]].append(t.number)
    assert sorted(map(len, by_worker.values())) == [PER_PROCESS, PER_PROCESS]  # each did its share
    assert {f"{os.uname().nodename}:{p.pid}" for p in procs} == set(by_worker)
    # the process that finished last wrote the whole study, as the storage holds it
    written = [pd.read_csv(tmp_path / f"p{i}" / "trials.csv") for i in range(2)]
    assert max(len(w) for w in written) == 2 * PER_PROCESS
    assert all(w["trial"].is_unique for w in written)



def test_machines_starting_at_once_on_a_fresh_database_all_get_the_storage(database: str) -> None:
    """Optuna creates its tables when a storage first opens a database; machines that start
    together race to create them, and the losers must retry rather than fail. Four threads, each
    with its own connection as a machine would have, open each of three fresh databases at once."""
    import threading

    import sqlalchemy

    from playground.compare.tune_storage import open_storage

    engine = sqlalchemy.create_engine(database, isolation_level="AUTOCOMMIT")
    for k in range(3):
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text(f"CREATE DATABASE fresh_{k}"))
        url = database.rsplit("/", 1)[0] + f"/fresh_{k}"
        barrier, outcomes = threading.Barrier(4), []

        def machine(url: str = url, barrier: threading.Barrier = barrier,
                    outcomes: list = outcomes) -> None:
            barrier.wait(timeout=60)
            try:
                open_storage(url).engine.dispose()
                outcomes.append("ok")
            except Exception as exc:  # reported, not raised: the test asserts on every machine
                outcomes.append(f"{type(exc).__name__}: {str(exc).splitlines()[0]}")

        threads = [threading.Thread(target=machine) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert outcomes == ["ok"] * 4, outcomes
    engine.dispose()
