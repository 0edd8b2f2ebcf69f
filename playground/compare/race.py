"""Races: 2 to 8 contenders that share a task (sprite, model, seed, epochs) and differ in optimizer,
learning rate, loss or schedule, trained in lockstep from the same initial weights on the same batches.

Contenders of one model run as one batched computation (`stack.Stack`). LBFGS (its closure
re-evaluates the loss), the latent MLP (memory-bound: batching it is slower, see docs/benchmarks.md)
and the other lessons (classify, line) run as plain `engine.Trainer`s in the same lockstep, fed the
race's batches. Both follow the same run rules (`playground.rules`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
from torch import Tensor

from playground.compare.contenders import contender_names, validate
from playground.compare.leaderboard import board
from playground.compare.stack import Book, Row, Stack, family_key
from playground.config import ConfigError, RunConfig
from playground.engine import Trainer, build
from playground.history import HistoryRows
from playground.ingredients import Built
from playground.results import TrainResult
from playground.rules import ENDED, RunRules
from playground.tasks import TASKS

STACKED_MODELS = frozenset({"pixels", "coord", "conv"})  # the latent MLP runs faster one by one
CHUNK = 16  # locksteps per `advance` when nobody watches every step (race(), stability map, CLI)


class _Epochs:
    """The race's one loader: its epochs drawn in order (its seeded shuffles, as a solo run draws
    them) and kept until every reader has moved past them."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader
        self.drawn: dict[int, list[tuple[Tensor, Tensor]]] = {}
        self.readers: list[_Reader] = []

    def get(self, epoch: int) -> list[tuple[Tensor, Tensor]]:
        while len(self.drawn) == 0 or max(self.drawn) < epoch:
            self.drawn[max(self.drawn, default=0) + 1] = list(self.loader)
        batches = self.drawn[epoch]
        oldest = min(r.epoch for r in self.readers)
        for old in [e for e in self.drawn if e < oldest]:
            del self.drawn[old]
        return batches


class _Reader:
    """One lane's view of the race's loader: each `iter()` opens that lane's next epoch, so a
    sequential contender can run a few steps ahead and still see exactly the race's batches."""

    def __init__(self, epochs: _Epochs) -> None:
        self.epochs, self.epoch = epochs, 0
        epochs.readers.append(self)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        self.epoch += 1
        return iter(self.epochs.get(self.epoch))

    def __len__(self) -> int:
        return len(self.epochs.loader)

    def retire(self) -> None:
        """This lane is done: stop keeping epochs for it."""
        if self in self.epochs.readers and len(self.epochs.readers) > 1:
            self.epochs.readers.remove(self)


def stackable(cfg: RunConfig) -> bool:
    """Whether a contender can join the batched computation (LBFGS, other lessons and the bug
    lab's mistakes, which live in a Trainer's ingredients, run alone)."""
    return cfg.optimizer != "lbfgs" and TASKS[cfg.task].sprite and cfg.bug == "none"


class Race:
    """Contenders in lockstep, stepped one optimizer step at a time so a worker can drive it.

    `step()` returns one history row per contender (None once it has ended); `images()`,
    `histories()`, `leaderboard()` and `results()` read the current state. Not thread-safe: call
    them from the thread that steps, and publish copies to the page. `stacked` forces the batched
    path on (any sprite model) or off; None batches the models in STACKED_MODELS.
    """

    def __init__(self, configs: Sequence[RunConfig], names: Sequence[str] | None = None,
                 target: np.ndarray | None = None, stacked: bool | None = None) -> None:
        validate(configs)
        self.configs = list(configs)
        self.names = list(names) if names is not None else contender_names(self.configs)
        if len(self.names) != len(self.configs):
            raise ConfigError(f"race: {len(self.names)} names for {len(self.configs)} contenders")
        base = build(self.configs[0], target)  # the weights, built once from the seed
        self.target = base.target
        self.total_steps = self.configs[0].total_steps
        self.step_count, self.epoch, self.seconds = 0, 0, 0.0
        self._epochs = _Epochs(base.loader)
        self._reader = _Reader(self._epochs)  # the batched contenders' batches
        self._batches: Iterator = iter(())
        self._in_epoch = 0
        self._stopped = False
        self.stack, self._stack_rows = self._make_stack(base, stacked)
        self.trainers = {i: Trainer(c, _solo(c, base, _Reader(self._epochs), target))
                         for i, c in enumerate(self.configs) if i not in self._stack_rows}
        if self.stack is None:
            self._reader.retire()

    def _make_stack(self, base: Built, stacked: bool | None) -> tuple[Stack | None, dict[int, int]]:
        """Batch the stackable contenders (two or more), in family order; map contender -> row."""
        auto = [stackable(c) and c.model in STACKED_MODELS for c in self.configs]
        pick = [i for i, c in enumerate(self.configs)
                if stackable(c) and (stacked if stacked is not None else auto[i])]
        if len(pick) < 2:
            return None, {}
        first: dict[tuple, int] = {}
        for i in pick:
            first.setdefault(family_key(self.configs[i]), len(first))
        order = sorted(pick, key=lambda i: (first[family_key(self.configs[i])],
                                            self.configs[i].loss))
        rows = {i: r for r, i in enumerate(order)}
        return Stack(base.model, [self.configs[i] for i in order]), rows

    # Stepping -----------------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self._stopped or all(s in ENDED for s in self.statuses)

    def step(self) -> list[Row | None]:
        """One lockstep: each live contender's history row, in contender order (None if done)."""
        table = self.advance(1)
        return table[0] if table else [None] * len(self.configs)

    def advance(self, steps: int) -> list[list[Row | None]]:
        """Up to `steps` locksteps: the batched contenders step together each time, and each
        sequential contender takes its steps in a row (its weights stay in cache: the memory-bound
        latent MLP runs ~10-20% faster than one step each in turn). One list of rows per lockstep."""
        if self.done:
            return []
        t0 = time.perf_counter()
        table: list[list[Row | None]] = [[None] * len(self.configs) for _ in range(steps)]
        taken = self._advance_stack(steps, table)
        for i, trainer in self.trainers.items():
            j = 0
            while j < steps and not trainer.done:
                table[j][i] = trainer.step()
                j += 1
            taken = max(taken, j)
            if trainer.done:
                trainer.b.loader.retire()
        self.step_count += taken
        self.epoch = max([self._reader.epoch, *(t.epoch for t in self.trainers.values())])
        self.seconds += time.perf_counter() - t0
        return table[:taken]

    def _advance_stack(self, steps: int, table: list[list[Row | None]]) -> int:
        """Step the batched contenders up to `steps` times; how many locksteps they took."""
        if self.stack is None:
            return 0
        for j in range(steps):
            if self.stack.done:
                self._reader.retire()
                return j
            x, y = self._next_batch()
            closes = self._in_epoch == len(self._reader)
            rows = self.stack.step(x, y, self._reader.epoch, closes)
            for i, r in self._stack_rows.items():
                table[j][i] = rows[r]
        return steps

    def _next_batch(self) -> tuple[Tensor, Tensor]:
        """The next batch of the one loader, opening the next epoch when this one is used up."""
        batch = next(self._batches, None)
        if batch is None:
            self._batches = iter(self._reader)
            self._in_epoch = 0
            batch = next(self._batches)
        self._in_epoch += 1
        return batch

    def stop(self) -> None:
        """End every live contender at the user's request."""
        self._stopped = True
        if self.stack is not None:
            self.stack.stop()
        for trainer in self.trainers.values():
            trainer.stop()

    # Views (call them from the thread that steps) ------------------------------------------------
    def rules(self, i: int) -> RunRules:
        """Contender i's run rules: its status, reason, best loss and where it diverged."""
        if i in self._stack_rows:
            return self.stack.books[self._stack_rows[i]].rules
        return self.trainers[i].rules

    @property
    def statuses(self) -> list[str]:
        return [self.rules(i).status for i in range(len(self.configs))]

    @property
    def reasons(self) -> list[str]:
        return [self.rules(i).reason for i in range(len(self.configs))]

    def rows(self, i: int) -> HistoryRows:
        """Contender i's history so far (live: read it from the thread that steps)."""
        book: Book | Trainer = (self.stack.books[self._stack_rows[i]] if i in self._stack_rows
                                else self.trainers[i])
        return book.rows

    def histories(self) -> list[pd.DataFrame]:
        """Every contender's history as a DataFrame."""
        return [self.rows(i).table().frame() for i in range(len(self.configs))]

    def images(self) -> list[np.ndarray | None]:
        """Every contender's current sprite, uint8 (H, W, 4), in contender order (None for
        lessons that draw no sprite)."""
        stacked = self.stack.images() if self.stack is not None else []
        return [stacked[self._stack_rows[i]] if i in self._stack_rows else self.trainers[i].image()
                for i in range(len(self.configs))]

    def results(self) -> list[TrainResult]:
        """Each contender as `train()` would return it (final or best weights, history, image)."""
        return [self.stack.result(self._stack_rows[i]) if i in self._stack_rows
                else self.trainers[i].result() for i in range(len(self.configs))]

    def leaderboard(self, threshold: float | None = None) -> pd.DataFrame:
        """The standings so far (see `leaderboard`)."""
        entries = [(name, self.rules(i).status, self.rows(i).table(), self.rules(i).best_loss,
                    self.rules(i).diverged_at) for i, name in enumerate(self.names)]
        return board(entries, threshold)


def _solo(cfg: RunConfig, base: Built, reader: _Reader, target: np.ndarray | None) -> Built:
    """A sequential contender built as a solo run is, then given a copy of the race's initial
    weights and fed the race's batches."""
    built = build(cfg, target)
    built.model.load_state_dict(base.model.state_dict())
    built.loader = reader
    return built


def race(configs: Sequence[RunConfig], on_step: Callable[[Race, list[Row | None]], None] | None = None,
         should_stop: Callable[[], bool] | None = None, *, names: Sequence[str] | None = None,
         target: np.ndarray | None = None, stacked: bool | None = None) -> list[TrainResult]:
    """Run a whole race; `on_step(race, rows)` sees every lockstep's rows, and `should_stop()`,
    checked every CHUNK locksteps, can end it."""
    contest = Race(configs, names, target, stacked)
    while not contest.done:
        if should_stop is not None and should_stop():
            contest.stop()
            break
        for rows in contest.advance(CHUNK):
            if on_step is not None:
                on_step(contest, rows)
    return contest.results()


