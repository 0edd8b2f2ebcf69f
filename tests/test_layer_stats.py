"""The per-parameter record (checked against plain torch norms of p.grad and of the update) and the
divergence autopsy (a crafted blow-up in one named tensor is the one named)."""

from __future__ import annotations

import math
import pickle

import pytest
import torch

from playground import RunConfig
from playground.engine import RATIO_EVERY, Trainer
from playground.layer_stats import autopsy, layer_of

CFG = RunConfig(model="mlp", optimizer="adam", lr=0.01, epochs=40, size=8, pace=0)


def record_of(trainer: Trainer, step: int) -> dict[str, float]:
    """The side table's record of one step, by column name."""
    rows = [r for r in trainer.layers.records if r[0] == step]
    assert len(rows) == 1
    return dict(zip(trainer.layers.columns, rows[0], strict=True))


@pytest.mark.parametrize("cfg", [CFG, CFG.replace(model="coord", batch_size=16, epochs=10),
                                 CFG.replace(model="pixels")],
                         ids=["mlp", "coord", "pixels"])
def test_the_record_matches_torch_norms_of_each_gradient_and_update(cfg: RunConfig) -> None:
    trainer = Trainer(cfg)
    names = trainer.layers.names
    for _ in range(2 * RATIO_EVERY - 1):
        trainer.step()
    old = [p.detach().clone() for p in trainer.params]
    row = trainer.step()  # step 20: a measured one; its gradients stay in p.grad after the step
    assert row.step == 2 * RATIO_EVERY
    got = record_of(trainer, row.step)
    for name, p, before in zip(names, trainer.params, old, strict=True):
        assert got[f"grad:{name}"] == pytest.approx(float(torch.linalg.vector_norm(p.grad)), rel=1e-6)
        want = float((p.detach() - before).norm() / before.norm())
        assert got[f"update:{name}"] / got[f"weight:{name}"] == pytest.approx(want, rel=1e-5)
    total = math.sqrt(sum(got[f"update:{n}"] ** 2 for n in names)
                      / sum(got[f"weight:{n}"] ** 2 for n in names))
    assert row.update_ratio == pytest.approx(total, rel=1e-6)
    assert [r[0] for r in trainer.layers.records] == [RATIO_EVERY, 2 * RATIO_EVERY]
    assert len(trainer.layers.drain()) == 2 and not trainer.layers.records  # sent once


def test_a_gradient_made_infinite_in_one_parameter_is_named() -> None:
    trainer = Trainer(CFG.replace(optimizer="sgd", lr=0.1))
    named = dict(trainer.b.model.named_parameters())
    assert "net.2.weight" in named
    named["net.2.weight"].register_hook(
        lambda g: torch.full_like(g, math.inf) if trainer.step_count >= 14 else g)
    while not trainer.done:
        trainer.step()
    assert trainer.status == "diverged" and trainer.diverged_at == 15
    found = trainer.layers.autopsy
    assert (found["parameter"], found["layer"], found["tensor"]) == ("net.2.weight", "net.2",
                                                                     "gradient")
    assert found["module"] == "Linear" and found["step"] == 15
    assert "inf" in found["what"] and "diverged at step 15" in found["reason"]
    rows = {r["parameter"]: r for r in found["table"]}
    assert math.isfinite(rows["net.4.weight"]["grad_norm"])  # the others stayed finite
    pickle.dumps(trainer.rules.state_dict())  # the hook is not part of a run's saved state


def test_weights_that_became_infinite_come_before_the_gradients_they_poison() -> None:
    trainer = Trainer(CFG.replace(optimizer="sgd", lr=0.1))
    for _ in range(5):
        trainer.step()
    with torch.no_grad():
        dict(trainer.b.model.named_parameters())["net.0.bias"][3] = math.inf
    trainer.step()
    assert trainer.status == "diverged"
    found = trainer.layers.autopsy
    assert (found["parameter"], found["tensor"]) == ("net.0.bias", "weights")
    assert all(torch.isfinite(p).all() for p in trainer.params)  # the best weights came back


def test_weights_that_grew_most_since_the_best_are_named() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    params = list(model.parameters())
    ref = [float(p.detach().norm()) for p in params]
    with torch.no_grad():
        params[2].mul_(50)  # the second layer's weight exploded; the first barely moved
        params[0].mul_(2)
    found = autopsy(7, model, [n for n, _ in model.named_parameters()], params, ref, None)
    assert (found["parameter"], found["layer"], found["tensor"]) == ("1.weight", "1", "weights")
    assert "50x" in found["what"] and layer_of("pixels") == "pixels"


def test_with_nothing_blown_the_parameter_with_the_largest_updates_is_named() -> None:
    """The line lesson unnormalised: the weight oscillates with growing steps; no tensor is
    non-finite when the loss passes 1,000x its start, but the weight's updates were 2x its size."""
    trainer = Trainer(RunConfig(task="line", lr=5e-5, epochs=300))
    while not trainer.done:
        trainer.step()
    found = trainer.layers.autopsy
    assert trainer.status == "diverged" and found["step"] > RATIO_EVERY
    assert (found["parameter"], found["tensor"]) == ("fc.weight", "updates")
    ratios = {r["parameter"]: r["ratio"] for r in found["table"]}
    assert ratios["fc.weight"] > 1 and ratios["fc.weight"] == max(ratios.values())
