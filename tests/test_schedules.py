"""Schedule previews (`lr_at`) against torch's own schedulers, and live LR changes."""

from __future__ import annotations

import pytest
import torch

from playground import RunConfig, build, lr_at, train
from playground.schedules import SCHEDULES, lr_curve, make_scheduler, rescale

PREVIEWED = [name for name, spec in SCHEDULES.items() if spec.lr_at is not None]


def torch_lrs(cfg: RunConfig) -> list[float]:
    """The LR of each update as torch's scheduler sets it."""
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=cfg.lr)
    sched = make_scheduler(opt, cfg)
    lrs = []
    for _ in range(cfg.total_steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        if sched is not None:
            sched.step()
    return lrs


@pytest.mark.parametrize("schedule", PREVIEWED)
@pytest.mark.parametrize("epochs", [7, 300])
def test_preview_matches_torch(schedule: str, epochs: int) -> None:
    cfg = RunConfig(schedule=schedule, epochs=epochs, lr=0.1, step_size=20, gamma=0.5, warmup=30,
                    min_lr=0.001)
    expected = torch_lrs(cfg)
    preview = [lr_at(cfg, t) for t in range(cfg.total_steps)]
    assert preview == pytest.approx(expected, rel=1e-5, abs=1e-12)


@pytest.mark.parametrize("schedule", PREVIEWED)
def test_engine_history_lr_follows_preview(schedule: str) -> None:
    cfg = RunConfig(schedule=schedule, epochs=60, lr=0.01, step_size=10, warmup=10, size=8)
    hist = train(cfg).history
    assert hist["lr"].tolist() == pytest.approx([lr_at(cfg, t) for t in range(60)], rel=1e-5)


@pytest.mark.parametrize("schedule", PREVIEWED)
def test_live_rescale_scales_the_rest_of_the_schedule(schedule: str) -> None:
    cfg = RunConfig(schedule=schedule, epochs=80, lr=0.1, step_size=10, warmup=10, min_lr=0.001)
    b = build(cfg)
    opt, sched = b.optimizer, b.scheduler
    seen = []
    for t in range(cfg.total_steps):
        if t == 25:
            rescale(opt, sched, 3.0)
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        if sched is not None:
            sched.step()
    expected = [lr_at(cfg, t) * (3.0 if t >= 25 else 1.0) for t in range(cfg.total_steps)]
    assert seen == pytest.approx(expected, rel=1e-5)


def test_plateau_cuts_lr_when_epoch_loss_stalls() -> None:
    # learnable pixels with a tiny SGD step barely move: the plateau schedule must cut the LR
    cfg = RunConfig(model="pixels", optimizer="sgd", lr=1e-6, schedule="plateau", step_size=2,
                    gamma=0.1, epochs=12, size=8)
    lrs = train(cfg).history["lr"].tolist()
    assert lrs[0] == pytest.approx(1e-6)
    assert min(lrs) < 1e-6 and lrs[-1] < lrs[0]


def test_plateau_has_no_preview_and_curve_is_bounded() -> None:
    assert lr_at(RunConfig(schedule="plateau"), 0) is None
    assert lr_curve(RunConfig(schedule="plateau")) == []
    curve = lr_curve(RunConfig(schedule="cosine", epochs=100000), points=200)
    assert 100 <= len(curve) <= 201 and curve[0] == (1, RunConfig().lr)
