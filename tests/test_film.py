"""The filmstrip keeps the moments a sprite changed, bounded, from first to last picture."""

from __future__ import annotations

import numpy as np

from playground import RunConfig
from playground.engine import Trainer
from playground.serve.film import KEEP, VISIBLE, Filmstrip, change


def picture(level: float) -> np.ndarray:
    return np.full((8, 8, 4), round(level), dtype=np.uint8)


def test_still_pictures_are_skipped_and_visible_changes_kept() -> None:
    film = Filmstrip()
    assert film.offer(0, picture(0))
    assert not film.offer(1, picture(VISIBLE / 2))  # too small a change to show
    assert film.offer(2, picture(VISIBLE * 2))
    assert [s for s, _ in film.frames] == [0, 2]


def test_a_full_strip_drops_the_frame_that_changed_least_and_keeps_both_ends() -> None:
    film = Filmstrip(keep=4)
    levels = [0, 100, 110, 200, 205, 250]  # big, small, big, small, big changes
    for step, level in enumerate(levels):
        film.offer(step, picture(level))
    film.finish(99, picture(251))
    steps = [s for s, _ in film.frames]
    assert len(steps) == 4 and steps[0] == 0 and steps[-1] == 99
    assert change(film.frames[1][1], film.frames[2][1]) >= VISIBLE


def test_a_training_run_fills_the_strip_across_its_forming() -> None:
    trainer = Trainer(RunConfig(epochs=150, pace=0))  # the default model, shorter
    film = Filmstrip()
    film.offer(0, trainer.image())
    while not trainer.done:
        row = trainer.step()
        film.offer(row.step, trainer.image())
    film.finish(trainer.step_count, trainer.image())
    steps = [s for s, _ in film.frames]
    assert len(steps) == KEEP and steps == sorted(steps) and steps[-1] == trainer.step_count
    assert len({s // 10 for s in steps}) >= 5  # spread over the run, not bunched at the start
