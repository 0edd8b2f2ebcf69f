"""The filmstrip keeps the moments the sprite changed toward (or away from) its target."""

from __future__ import annotations

import numpy as np

from playground import RunConfig, sprites
from playground.engine import Trainer
from playground.serve.film import KEEP, Filmstrip

TARGET = np.zeros((8, 8, 4), dtype=np.uint8)


def picture(error: float) -> np.ndarray:
    """A picture whose mean error against TARGET is `error` (of 255)."""
    return np.full((8, 8, 4), round(error), dtype=np.uint8)


def test_frames_are_kept_when_the_error_moves_by_a_visible_factor() -> None:
    film = Filmstrip(TARGET)
    assert film.offer(0, picture(100))
    assert not film.offer(1, picture(90))  # 10% better: not yet a new moment
    assert film.offer(2, picture(50))
    assert film.offer(3, picture(150))  # it got much worse: a moment too (a blow-up)
    assert [s for s, _ in film.frames] == [0, 2, 3]


def test_a_full_strip_keeps_both_ends_and_even_quality_steps() -> None:
    film = Filmstrip(TARGET, keep=4)
    for step, error in enumerate([200, 100, 60, 35, 20, 11, 6, 3]):
        film.offer(step, picture(error))
    film.finish(99, picture(1))
    steps = [s for s, _ in film.frames]
    assert len(steps) == 4 and steps[0] == 0 and steps[-1] == 99


def test_a_training_run_fills_the_strip_across_its_forming() -> None:
    trainer = Trainer(RunConfig(epochs=150, pace=0))  # the default model, shorter
    film = Filmstrip(sprites.from_tensor(trainer.b.target))
    film.offer(0, trainer.image())
    while not trainer.done:
        row = trainer.step()
        film.offer(row.step, trainer.image())
    film.finish(trainer.step_count, trainer.image())
    steps = [s for s, _ in film.frames]
    assert 6 <= len(steps) <= KEEP and steps == sorted(steps) and steps[-1] == trainer.step_count
    assert steps[-2] > trainer.step_count // 10  # late refinements are kept, not only early noise
