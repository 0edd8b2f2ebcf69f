"""Stepping by line (playground/loop_lines.py): the same numbers as Trainer.step, bit for bit, and
what each line captures checked against plain PyTorch."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from playground import RunConfig, build
from playground.engine import Trainer
from playground.loop_lines import LBFGS_REFUSED, LINES, LineRefused, LineStepper

STEPS = 20
CASES = {  # every task, several optimizers and schedules; classify with dropout, spanning epochs
    "pixels-adam": RunConfig(model="pixels", optimizer="adam", lr=0.05, size=8, epochs=40),
    "coord-sgd-momentum": RunConfig(model="coord", optimizer="sgd", lr=0.1, momentum=0.9, size=8,
                                    batch_size=16, epochs=10, schedule="cosine"),
    "mlp-rmsprop-clip": RunConfig(model="mlp", optimizer="rmsprop", lr=0.001, size=8, epochs=40,
                                  clip_grad_norm=0.5, hidden=16, depth=2),
    "conv-adamw": RunConfig(model="conv", optimizer="adamw", lr=0.01, size=8, epochs=40, hidden=8),
    "classify-mlp-dropout-adam": RunConfig(task="classify", model="mlp", loss="ce", optimizer="adam",
                                           lr=0.01, dropout=0.5, samples=60, batch_size=16,
                                           epochs=10, size=12, hidden=16, schedule="plateau"),
    "classify-cnn-sgd": RunConfig(task="classify", model="cnn", loss="ce", optimizer="sgd",
                                  lr=0.05, momentum=0.9, samples=60, batch_size=16, epochs=10,
                                  size=12, hidden=8),
    "line-sgd": RunConfig(task="line", model="linear", optimizer="sgd", lr=0.1, normalize=True,
                          batch_size=3, epochs=10),
    "line-adagrad": RunConfig(task="line", model="linear", optimizer="adagrad", lr=0.5,
                              normalize=True, batch_size=4, epochs=10),
}


def _books(t: Trainer) -> tuple[list, list[torch.Tensor], dict]:
    """Everything stepping could change: history rows (less the seconds), weights, optimizer state,
    best weights, rules, counters and the dropout generator."""
    table = t.rows.table()
    rows = [tuple(float(table[c][i]) for c in t.columns if c != "seconds") for i in range(len(t.rows))]
    state = t.state_dict()
    for key in ("seconds", "model", "best"):
        state.pop(key)
    return rows, [p.detach().clone() for p in t.params] + list(t.best_params or []), state


def _same(a: object, b: object) -> bool:
    """Equal bit for bit, NaN included, through nested dicts, lists and tensors."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.shape == b.shape and torch.equal(
            torch.nan_to_num(a, nan=7.0), torch.nan_to_num(b, nan=7.0))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return a == b


@pytest.mark.parametrize("name", list(CASES))
def test_twenty_iterations_by_line_equal_twenty_steps_bit_for_bit(name: str) -> None:
    cfg = CASES[name]
    plain, lined = Trainer(cfg), Trainer(cfg)
    for _ in range(STEPS):
        plain.step()
    stepper = LineStepper(lined)
    for i in range(STEPS * len(LINES)):
        view = stepper.run_line()
        if view is None:  # the run ended (early stopping): no line left to run
            break
        assert view.name == LINES[i % len(LINES)]
        torch.rand(3)  # other work between presses draws from torch's global generator
    assert lined.step_count == plain.step_count
    assert lined.status == plain.status and lined.reason == plain.reason
    if name == "classify-cnn-sgd":
        assert plain.status == "early_stopped"  # the rules ended both runs at the same step
    else:
        assert plain.step_count == STEPS
    if name.startswith("classify"):
        assert plain.epoch > 1  # the twenty steps crossed epoch ends (validation, plateau)
    a, b = _books(plain), _books(lined)
    assert a[0] == b[0] or _same(a[0], b[0])
    assert _same(a[1], b[1]), "weights differ"
    assert _same(a[2], b[2]), "optimizer, schedule, rules or counters differ"


@pytest.mark.parametrize("name", ["coord-sgd-momentum", "classify-mlp-dropout-adam"])
def test_a_run_parked_mid_iteration_and_replayed_gives_the_same_numbers(name: str) -> None:
    """The worker's path: after every line the run is saved, rebuilt elsewhere and the lines so far
    replayed; twenty iterations still match Trainer.step bit for bit."""
    cfg = CASES[name]
    plain = Trainer(cfg)
    for _ in range(STEPS):
        plain.step()
    trainer, at, rows = Trainer(cfg), 0, []
    keep = [i for i, c in enumerate(plain.columns) if c != "seconds"]
    for _ in range(STEPS * len(LINES)):
        stepper = LineStepper(trainer, at)
        view = stepper.run_line()
        if view.row is not None:  # the rows travel in the views (the runner keeps the history)
            rows.append(tuple(float(view.row.data[0][i]) for i in keep))
        state, at = stepper.state_dict(), stepper.at
        trainer = Trainer(cfg, build(cfg))
        trainer.load_state_dict(state)
    assert at == 0 and trainer.step_count == STEPS
    a, b = _books(plain), _books(trainer)
    assert _same(a[0], rows), "history rows differ"
    assert _same(a[1], b[1]) and _same(a[2], b[2])


def test_an_ordinary_step_mid_iteration_finishes_that_iteration() -> None:
    cfg = CASES["coord-sgd-momentum"]
    plain, lined = Trainer(cfg), Trainer(cfg)
    for _ in range(3):
        plain.step()
    stepper = LineStepper(lined)
    stepper.run_line()
    stepper.run_line()
    row = stepper.finish()  # Step pressed after two lines: the rest of this iteration
    assert row.step == 1 and stepper.at == 0
    stepper.finish()
    stepper.finish()
    assert _same(_books(plain)[1], _books(lined)[1])


def test_lbfgs_is_refused_with_one_sentence() -> None:
    with pytest.raises(LineRefused, match="LBFGS"):
        LineStepper(Trainer(RunConfig(optimizer="lbfgs", lr=0.5, size=8)))
    assert LBFGS_REFUSED.count(". ") == 0 and LBFGS_REFUSED.endswith(".")


# What each line captures ---------------------------------------------------------------------
def _iteration(cfg: RunConfig, warm: int = 2) -> tuple[Trainer, list]:
    """A Trainer after `warm` ordinary steps, and the views of its next iteration's five lines."""
    t = Trainer(cfg)
    for _ in range(warm):
        t.step()
    stepper = LineStepper(t)
    return t, [stepper.run_line() for _ in LINES]


def test_zero_grad_leaves_every_gradient_none_drawn_blank() -> None:
    t, views = _iteration(CASES["mlp-rmsprop-clip"])
    zeroed = views[0]
    assert zeroed.name == "zero_grad" and zeroed.pictures
    assert all(p.none and math.isnan(p.norm) for p in zeroed.pictures)
    assert all(p.values is None or not p.values.any() for p in zeroed.pictures)
    names = [n for n, p in t.b.model.named_parameters()]
    assert [p.name for p in zeroed.pictures] == names
    assert [p.shape for p in zeroed.pictures] == [tuple(p.shape) for p in t.b.model.parameters()]


def test_forward_loss_and_backward_equal_plain_autograd() -> None:
    cfg = CASES["pixels-adam"]
    t, views = _iteration(cfg)
    # plain PyTorch on a model in the state the stepper saw: the same weights before the update
    ref = Trainer(cfg)
    for _ in range(2):
        ref.step()
    x, y = next(iter(ref.b.loader))
    ref.b.optimizer.zero_grad()
    out = ref.b.model(x)
    loss = ref.b.criterion(out, y)
    loss.backward()
    forward, lossed, backward = views[1], views[2], views[3]
    assert np.array_equal(forward.pictures[0].values, out[0].detach().numpy())
    assert forward.sprite.shape == (cfg.size, cfg.size, 4) and forward.sprite.dtype == np.uint8
    assert lossed.loss == loss.item()
    per_pixel = ((out - y) ** 2).sum(1)[0]  # the (sum-reduced) MSE before it is added up
    np.testing.assert_allclose(lossed.pictures[0].values, per_pixel.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(lossed.pictures[0].values.sum(), loss.item(), rtol=1e-5)
    grad = backward.pictures[0]
    assert grad.kind == "grad" and grad.sprite and grad.values.shape == (4, cfg.size, cfg.size)
    assert np.array_equal(grad.values, ref.b.model.canvas.grad[0].numpy())


def test_step_shows_new_minus_old_the_ratio_and_adams_state() -> None:
    cfg = CASES["classify-mlp-dropout-adam"]
    t = Trainer(cfg)
    t.step()
    before = {n: p.detach().clone() for n, p in t.b.model.named_parameters()}
    stepper = LineStepper(t)
    for _ in range(4):
        stepper.run_line()
    stepped = stepper.run_line()
    assert stepped.name == "step" and stepped.row is not None and stepped.row.last.step == 2
    updates = {p.name: p for p in stepped.pictures if p.kind == "update"}
    assert list(updates) == list(before)
    for name, p in t.b.model.named_parameters():
        delta = p.detach() - before[name]
        assert updates[name].shape == tuple(p.shape)
        assert updates[name].norm == pytest.approx(float(delta.norm()), rel=1e-6)
        assert stepped.ratios[name] == pytest.approx(float(delta.norm() / before[name].norm()),
                                                     rel=1e-6)
        state = t.b.optimizer.state[p]
        for key in ("exp_avg", "exp_avg_sq"):
            shown = next(q for q in stepped.pictures if q.kind == key and q.name == name)
            assert shown.shape == tuple(state[key].shape) == tuple(p.shape)
            assert shown.norm == pytest.approx(float(state[key].norm()), rel=1e-6)
        small = updates[name]
        if small.values is not None and small.pooled == (1, 1):
            assert np.array_equal(small.values.reshape(-1), delta.reshape(-1).numpy())


def test_each_task_names_the_batch_members() -> None:
    coord = _iteration(CASES["coord-sgd-momentum"])[1][0].members
    assert coord["kind"] == "pixels" and coord["mask"].sum() == coord["count"] == 16
    assert coord["of"] == 64 and coord["mask"].shape == (8, 8)
    whole = _iteration(CASES["pixels-adam"])[1][0].members
    assert whole["kind"] == "whole"
    sprites = _iteration(CASES["classify-cnn-sgd"], warm=0)[1][0].members
    assert sprites["kind"] == "sprites" and sprites["images"].shape[1:] == (12, 12, 3)
    assert len(sprites["labels"]) == sprites["count"] == 16
    t, views = _iteration(CASES["line-sgd"])
    houses = views[0].members
    assert houses["kind"] == "houses" and len(set(houses["index"])) == 3 and min(houses["index"]) >= 0
    x, y = t.b.loader.inputs, t.b.loader.targets
    assert views[1].values["target"] == y[houses["index"]].reshape(-1).tolist()
    assert x.shape[0] == houses["of"]


def test_counters_follow_epochs_and_batches() -> None:
    t = Trainer(CASES["classify-cnn-sgd"])
    stepper = LineStepper(t)
    seen = []
    for _ in range(8 * len(LINES)):
        view = stepper.run_line()
        if view.name == "zero_grad":
            seen.append((view.step, view.epoch, view.batch, view.batches))
    per_epoch = seen[0][3]
    assert per_epoch == len(t.b.loader) > 1
    assert [s for s, *_ in seen] == list(range(1, 9))
    assert [(e, b) for _, e, b, _ in seen] == [(1 + i // per_epoch, 1 + i % per_epoch)
                                             for i in range(8)]
