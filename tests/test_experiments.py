"""Every guided experiment shows what its sentence promises, on the real run (and its comparison)."""

from __future__ import annotations

import pytest

from playground import RunConfig, train
from playground.lessons.experiments import EXPERIMENTS


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_the_experiment_shows_its_phenomenon(name: str) -> None:
    exp = EXPERIMENTS[name]
    result = train(exp.config().replace(pace=0))
    base = exp.baseline_config()
    baseline = train(base.replace(pace=0)) if base is not None else None
    assert exp.expect(result, baseline), f"{name}: {result.status}, {result.summary()}"


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_the_experiment_is_a_short_sentence_and_a_share_link(name: str) -> None:
    exp = EXPERIMENTS[name]
    assert exp.title and exp.watch.endswith(".") and len(exp.watch) < 220
    assert exp.watch.count(". ") == 0  # one sentence
    cfg = exp.config()
    back, problems = RunConfig.from_query(cfg.to_query())
    assert back == cfg and not problems
    assert cfg.total_steps / max(cfg.pace, 1) < 60 or cfg.pace == 0  # watchable within a minute
