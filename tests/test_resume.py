"""A run carried on from its state (another process, a later turn, a checkpoint) takes exactly the
steps it would have taken: the same losses, bit for bit, for every optimizer and schedule."""

from __future__ import annotations

import io
import math

import pytest
import torch

from playground import RunConfig
from playground.engine import Trainer
from playground.optim import OPTIMIZERS
from playground.schedules import SCHEDULES


def losses(trainer: Trainer, steps: int) -> list[float]:
    out = []
    for _ in range(steps):
        row = trainer.step()
        if row is None:
            break
        out.append(row.loss)
    return out


def step_to_epoch_end(trainer: Trainer, epochs: int) -> list[float]:
    out = []
    while trainer.epoch < epochs or not trainer.at_epoch_end:
        out.append(trainer.step().loss)
    return out


def resumed_equals_uninterrupted(cfg: RunConfig, cut_epochs: int, more: int) -> None:
    whole = Trainer(cfg)
    want = losses(whole, 10_000)
    first = Trainer(cfg)
    got = step_to_epoch_end(first, cut_epochs)
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)  # as it would travel or be written to disk
    buffer.seek(0)
    second = Trainer(cfg)
    second.load_state_dict(torch.load(buffer, weights_only=True))
    got += losses(second, 10_000)
    assert len(got) == len(want) and got == want
    assert second.status == whole.status and second.best_loss == whole.best_loss


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
def test_every_optimizer_resumes_exactly(optimizer: str) -> None:
    lr = 0.5 if optimizer == "lbfgs" else 0.01
    resumed_equals_uninterrupted(RunConfig(model="coord", optimizer=optimizer, lr=lr, momentum=0.5,
                                           size=8, epochs=6, batch_size=16, pace=0), 3, 3)


@pytest.mark.parametrize("schedule", list(SCHEDULES))
def test_every_schedule_resumes_exactly(schedule: str) -> None:
    resumed_equals_uninterrupted(RunConfig(model="mlp", schedule=schedule, step_size=3, warmup=4,
                                           size=8, epochs=14, pace=0), 5, 9)


def test_a_classifier_with_dropout_early_stopping_and_a_live_lr_change_resumes_exactly() -> None:
    cfg = RunConfig.from_dict({"task": "classify", "samples": 60, "size": 8, "dropout": 0.3,
                               "epochs": 8, "patience": 3, "model": "mlp", "pace": 0})
    resumed_equals_uninterrupted(cfg, 4, 4)
    live = Trainer(cfg)
    step_to_epoch_end(live, 2)
    live.set_lr(0.003)
    state = live.state_dict()
    want = losses(live, 5)  # dropout draws from torch's global generator, which the state carries
    moved = Trainer(cfg)
    moved.load_state_dict(state)
    assert moved.base_lr == 0.003
    assert losses(moved, 5) == want


@pytest.mark.parametrize("task", ["generate", "classify"])
@pytest.mark.parametrize("in_epoch", [1, 2, 3])
def test_a_run_carried_on_mid_epoch_sees_the_same_batches(task: str, in_epoch: int) -> None:
    """Pausing parks a run at any step, so its state holds where it was inside an epoch."""
    cfg = RunConfig.from_dict({"task": task, "model": "coord" if task == "generate" else "mlp",
                               "size": 8, "batch_size": 16, "samples": 80, "dropout": 0.2,
                               "epochs": 5, "pace": 0})
    whole = Trainer(cfg)
    want = losses(whole, 10_000)
    first = Trainer(cfg)
    got = losses(first, 4 + in_epoch)  # one whole epoch, then `in_epoch` batches of the next
    assert not first.at_epoch_end and first.epoch == 2
    second = Trainer(cfg)
    second.load_state_dict(first.state_dict())
    got += losses(second, 10_000)
    assert got == want
    assert math.isfinite(got[-1])
