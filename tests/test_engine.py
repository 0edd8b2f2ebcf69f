"""The engine against plain PyTorch: same seed, same batches, same losses."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from playground import RunConfig, build, train
from playground.engine import Trainer
from playground.losses import LOSSES
from playground.models import MODELS, num_parameters
from playground.optim import OPTIMIZERS

SHORT = {"epochs": 6, "size": 8}


def textbook_losses(cfg: RunConfig) -> list[float]:
    """The loop from every PyTorch tutorial, written over build(cfg) and nothing else."""
    b = build(cfg)
    losses = []
    for _epoch in range(cfg.epochs):
        for x, y in b.loader:
            if cfg.optimizer == "lbfgs":
                def closure(x=x, y=y):
                    b.optimizer.zero_grad()
                    loss = b.criterion(b.model(x), y)
                    loss.backward()
                    return loss
                losses.append(b.optimizer.step(closure).item())
                continue
            b.optimizer.zero_grad()
            loss = b.criterion(b.model(x), y)
            loss.backward()
            b.optimizer.step()
            losses.append(loss.item())
    return losses


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
@pytest.mark.parametrize("model", ["mlp", "coord"])
def test_engine_matches_textbook_loop(model: str, optimizer: str) -> None:
    lr = 0.5 if optimizer == "lbfgs" else 0.01
    cfg = RunConfig(model=model, optimizer=optimizer, lr=lr, momentum=0.9 if optimizer == "sgd"
                    else 0.0, batch_size=16, **SHORT)
    expected = textbook_losses(cfg)
    result = train(cfg)
    assert result.status == "completed"
    assert len(expected) == cfg.total_steps == len(result.history)
    np.testing.assert_allclose(result.history["loss"], expected, rtol=1e-6, atol=1e-9)


def straightforward_books(cfg: RunConfig) -> tuple[list[tuple[float, float, float]], list[torch.Tensor]]:
    """The engine's bookkeeping written the obvious way over the textbook loop: torch's own total
    norm, a fresh clone of the weights whenever the loss of the first or a 10th step improves on
    the best checkpoint's, and every 10th step a clone
    before the update for ||after - before|| / ||before||."""
    b = build(cfg)
    params = list(b.model.parameters())
    rows, best, best_loss, step = [], None, math.inf, 0
    for _epoch in range(cfg.epochs):
        for x, y in b.loader:
            step += 1
            b.optimizer.zero_grad()
            loss = b.criterion(b.model(x), y)
            loss.backward()
            norm = float(torch.nn.utils.get_total_norm([p.grad for p in params]))
            if (step == 1 or step % 10 == 0) and loss.item() < best_loss:
                best_loss, best = loss.item(), [p.detach().clone() for p in params]
            before = [p.detach().clone() for p in params] if step % 10 == 0 else None
            b.optimizer.step()
            ratio = math.nan
            if before is not None:
                delta = [p.detach() - old for p, old in zip(params, before, strict=True)]
                norms = [float(torch.nn.utils.get_total_norm(t)) for t in (delta, before)]
                ratio = norms[0] / norms[1]
            rows.append((loss.item(), norm, ratio))
    return rows, best


@pytest.mark.parametrize("model,optimizer", [("pixels", "adam"), ("pixels", "sgd"), ("mlp", "adam"),
                                             ("coord", "adam"), ("conv", "adam")])
def test_engine_bookkeeping_is_bit_for_bit_the_straightforward_one(model: str, optimizer: str) -> None:
    """The trimmed bookkeeping (its own gradient clearing, copy_ for one tensor, the reused
    scratch buffer) records exactly what the obvious code records, and keeps the same best weights."""
    cfg = RunConfig(model=model, optimizer=optimizer, lr=0.01, momentum=0.9 if optimizer == "sgd"
                    else 0.0, batch_size=16, epochs=25, size=8)
    rows, best = straightforward_books(cfg)
    result = train(cfg)
    assert result.status == "completed" and len(rows) == result.steps
    got = result.history
    np.testing.assert_array_equal(got["loss"], [r[0] for r in rows])
    np.testing.assert_array_equal(got["grad_norm"], [r[1] for r in rows])
    np.testing.assert_array_equal(got["update_ratio"], [r[2] for r in rows])
    assert len(best) == len(result.best_state)
    for kept, want in zip(result.best_state.values(), best, strict=True):
        assert torch.equal(kept, want)


@pytest.mark.parametrize("model", list(MODELS))
def test_every_model_learns_and_reports_parameters(model: str) -> None:
    cfg = RunConfig(model=model, epochs=60, size=8, lr=0.01)
    b = build(cfg)
    assert num_parameters(b.model) > 0
    assert b.model.image().shape == (4, 8, 8)
    result = train(cfg)
    hist = result.history
    assert result.status == "completed"
    assert hist["loss"].iloc[-1] < 0.5 * hist["loss"].iloc[0]
    assert result.image.shape == (8, 8, 4) and result.image.dtype == np.uint8


@pytest.mark.parametrize("loss", list(LOSSES))
def test_every_loss_trains_down(loss: str) -> None:
    result = train(RunConfig(loss=loss, epochs=40, size=8))
    assert result.history["loss"].iloc[-1] < result.history["loss"].iloc[0]


def test_history_columns_and_steps() -> None:
    cfg = RunConfig(model="coord", batch_size=16, epochs=3, size=8)
    hist = train(cfg).history
    assert list(hist.columns[:7]) == ["step", "epoch", "loss", "lr", "grad_norm", "update_ratio",
                                      "seconds"]
    assert hist["step"].tolist() == list(range(1, 13))
    assert hist["epoch"].tolist() == [1] * 4 + [2] * 4 + [3] * 4
    assert hist["seconds"].is_monotonic_increasing
    assert (hist["grad_norm"] > 0).all()
    ratios = hist["update_ratio"].dropna()
    assert len(ratios) == 1 and 0 < ratios.iloc[0] < 1


def test_determinism_same_seed_same_run_other_seed_differs() -> None:
    cfg = RunConfig(model="coord", batch_size=16, epochs=4, size=8)
    a, b = train(cfg).history["loss"], train(cfg).history["loss"]
    assert a.tolist() == b.tolist()
    c = train(cfg.replace(seed=1)).history["loss"]
    assert c.tolist() != a.tolist()


def test_sgd_with_huge_lr_diverges_and_records_the_blow_up() -> None:
    result = train(RunConfig(model="mlp", optimizer="sgd", lr=1000.0, epochs=200))
    assert result.status == "diverged"
    assert result.diverged_at is not None and result.diverged_at <= 200
    assert "try a learning rate 10x lower" in result.reason
    assert len(result.history) == result.diverged_at  # the step that blew up is the last row
    last = result.history.iloc[-1]
    assert not (math.isfinite(last["loss"]) and last["loss"] < 1e3 * result.history["loss"].iloc[0])
    assert np.isfinite(result.history["loss"].iloc[:-1]).all()
    assert result.image.dtype == np.uint8


def test_adam_explosion_is_caught_before_nan() -> None:
    result = train(RunConfig(model="mlp", optimizer="adam", lr=100.0, epochs=300))
    assert result.status == "diverged"


def test_early_stopping_triggers_on_a_flat_loss() -> None:
    # lr so small that the loss cannot improve by min_delta: stops after `patience` epochs
    cfg = RunConfig(model="pixels", optimizer="sgd", lr=1e-6, patience=5, min_delta=0.01,
                    epochs=100, size=8)
    result = train(cfg)
    assert result.status == "early_stopped"
    assert len(result.history) == 6  # the first epoch sets the best, five more without progress
    assert "early stopped" in result.reason


def test_early_stopping_waits_while_improving() -> None:
    cfg = RunConfig(model="pixels", lr=0.002, patience=3, min_delta=1e-9, epochs=40, size=8)
    assert train(cfg).status == "completed"


def test_best_state_is_restored_after_divergence() -> None:
    cfg = RunConfig(model="pixels", optimizer="sgd", lr=1000.0, epochs=50, size=8)
    trainer = Trainer(cfg)
    while not trainer.done:
        trainer.step()
    assert trainer.status == "diverged"
    weights = [p for p in trainer.b.model.parameters()]
    assert all(torch.isfinite(w).all() for w in weights)


def test_should_stop_and_on_step_hook() -> None:
    seen: list[int] = []
    result = train(RunConfig(epochs=100, size=8), on_step=lambda t, row: seen.append(row[0]),
                   should_stop=lambda: len(seen) >= 7)
    assert result.status == "stopped"
    assert seen == list(range(1, 8)) and len(result.history) == 7


def test_clipping_caps_the_update_but_reports_the_raw_norm() -> None:
    base = RunConfig(model="mlp", optimizer="sgd", lr=0.01, epochs=3, size=8)
    clipped = train(base.replace(clip_grad_norm=1e-4)).history
    free = train(base).history
    assert clipped["grad_norm"].iloc[0] == pytest.approx(free["grad_norm"].iloc[0])
    assert clipped["loss"].iloc[-1] > free["loss"].iloc[-1]  # tiny clipped steps barely move


def test_live_lr_change_applies_from_next_step() -> None:
    trainer = Trainer(RunConfig(epochs=50, size=8))
    for _ in range(3):
        trainer.step()
    trainer.set_lr(0.05)
    row = trainer.step()
    assert row[3] == pytest.approx(0.05)
    assert trainer.events == [(3, "lr", 0.05)]


def test_bce_outputs_logits_and_displays_probabilities() -> None:
    result = train(RunConfig(loss="bce", epochs=30, size=8))
    assert result.image.min() >= 0 and math.isfinite(result.best_loss)


@pytest.mark.parametrize("shapes", [[(1, 4, 8, 8)], [(3, 5), (5,), (7, 2)]])
def test_total_norm_equals_torch_bit_for_bit(shapes) -> None:
    from playground.tensor_ops import total_norm

    g = torch.Generator().manual_seed(0)
    for scale in (1e-30, 1.0, 1e30):
        tensors = [torch.randn(*s, generator=g) * scale for s in shapes]
        assert total_norm(tensors) == float(torch.nn.utils.get_total_norm(tensors))
    bad = [torch.full(shapes[0], math.inf)]
    assert total_norm(bad) == float(torch.nn.utils.get_total_norm(bad))


def test_all_finite_agrees_with_isfinite_even_where_the_sum_overflows() -> None:
    from playground.tensor_ops import all_finite

    big = torch.finfo(torch.float32).max
    cases = [[torch.ones(3)], [torch.ones(3), torch.tensor([1.0, math.nan])],
             [torch.tensor([math.inf, -math.inf])], [torch.tensor([big, big])],  # sum: inf
             [torch.tensor([big, big, math.nan])], [torch.empty(0)], []]
    for tensors in cases:
        assert all_finite(tensors) == all(bool(torch.isfinite(t).all()) for t in tensors)


@pytest.mark.parametrize("task", ["generate", "classify", "line"])
def test_builds_at_once_in_many_threads_give_identical_weights(task: str) -> None:
    """Each build draws from its own generator: threads building together cannot interleave."""
    import threading

    cfg = RunConfig.from_dict({"task": task, "size": 8, "samples": 40})
    results: list[dict] = []
    start = threading.Barrier(8)

    def build_one() -> None:
        start.wait()
        for _ in range(5):
            results.append({k: v.clone() for k, v in build(cfg).model.state_dict().items()})

    threads = [threading.Thread(target=build_one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 40
    for state in results[1:]:
        assert all(torch.equal(state[k], results[0][k]) for k in state)


def test_the_best_checkpoint_is_the_lowest_loss_of_the_first_and_every_10th_step() -> None:
    """Divergence restores the weights of the checkpoint step with the lowest loss, which the run
    rules name; a later step with a lower loss is not kept (docs/benchmarks.md says why)."""
    cfg = RunConfig(model="mlp", optimizer="adam", lr=0.01, epochs=35, size=8)
    trainer = Trainer(cfg)
    weights = {}
    while not trainer.done:
        weights[trainer.step_count + 1] = [p.detach().clone() for p in trainer.params]
        trainer.step()
    losses = trainer.result().history.set_index("step")["loss"]
    kept = losses[[s for s in losses.index if s == 1 or s % 10 == 0]]
    assert losses.idxmin() not in kept.index  # still learning: the last steps are lower
    assert trainer.rules.best_step == kept.idxmin() == 30
    assert trainer.best_loss == kept.min()
    assert trainer.restore_best()
    for got, want in zip(trainer.params, weights[30], strict=True):
        assert torch.equal(got.detach(), want)


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
def test_the_lean_step_is_optimizer_step(optimizer: str) -> None:
    """tensor_ops.lean_step updates the weights exactly as optimizer.step(), leaves autograd as it
    was, and still runs step hooks registered on the optimizer (then it takes the wrapped path)."""
    from playground.tensor_ops import lean_step

    cfg = RunConfig(model="mlp", optimizer=optimizer, lr=0.01, schedule="cosine", epochs=3, size=8)
    sides = [build(cfg), build(cfg)]
    steps = [lean_step(sides[0].optimizer), sides[1].optimizer.step]
    calls: list[int] = []
    for i in range(3):
        if i == 2:
            sides[0].optimizer.register_step_post_hook(lambda *_: calls.append(1))
            sides[1].optimizer.register_step_post_hook(lambda *_: calls.append(2))
        for b, step in zip(sides, steps, strict=True):
            x, y = next(iter(b.loader))
            closure = b.optimizer.step if optimizer == "lbfgs" else None

            def loss_of(b=b, x=x, y=y) -> torch.Tensor:
                b.optimizer.zero_grad()
                loss = b.criterion(b.model(x), y)
                loss.backward()
                return loss
            if closure is not None:
                b.optimizer.step(loss_of)
            else:
                loss_of()
                step()
            assert torch.is_grad_enabled()
    for a, b in zip(sides[0].model.parameters(), sides[1].model.parameters(), strict=True):
        assert torch.equal(a, b)
    assert sorted(calls) == [1, 2]
    with warnings.catch_warnings():  # the schedule knows the optimizer stepped (no warning)
        warnings.simplefilter("error")
        sides[0].scheduler.step()
