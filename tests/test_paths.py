"""The paths lesson: a point on a 2-D surface, trained by the same Trainer as every lesson.

Checked against plain PyTorch (a hand-written loop with the same torch optimizer, bit for bit),
against theory (the quadratic's stability edge), and each surface against hand-derived gradients.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from playground import RunConfig, train
from playground.cli import main
from playground.compare.race import race
from playground.config import ConfigError
from playground.lessons.path_theory import bowl_theory, optimum_settings
from playground.optim import OPTIMIZERS
from playground.surfaces import SURFACES, gradient, value

LRS = {"sgd": 2e-4, "adam": 0.02, "adamw": 0.02, "rmsprop": 1e-3, "adagrad": 0.1, "nadam": 0.02,
       "radam": 2e-4, "adamax": 0.02, "lbfgs": 0.5}


def hand_loop(cfg: RunConfig, steps: int, noise: list[torch.Tensor] | None = None) -> np.ndarray:
    """The textbook loop on Rosenbrock, written out: rows of (x, y, loss) before each step."""
    p = torch.nn.Parameter(torch.tensor([cfg.start_x, cfg.start_y], dtype=torch.float64))
    optimizer = OPTIMIZERS[cfg.optimizer].make([p], cfg)

    def f() -> torch.Tensor:
        x, y = p[0], p[1]
        return (1 - x) ** 2 + 100 * (y - x * x) ** 2

    rows = []
    for i in range(steps):
        before = p.detach().clone()
        if cfg.optimizer == "lbfgs":
            def closure() -> torch.Tensor:
                optimizer.zero_grad()
                loss = f()
                loss.backward()
                return loss
            loss_value = float(optimizer.step(closure).detach())
        else:
            optimizer.zero_grad()
            loss = f()
            loss.backward()
            if noise is not None:
                p.grad += noise[i]
            loss_value = loss.item()
            optimizer.step()
        rows.append((*before.tolist(), loss_value))
    return np.array(rows)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_a_path_is_the_hand_written_loop_bit_for_bit(name: str) -> None:
    cfg = RunConfig(task="paths", surface="rosenbrock", optimizer=name, lr=LRS[name], epochs=60,
                    momentum=0.5 if name in ("sgd", "rmsprop") else 0.0)
    history = train(cfg).history
    assert len(history) == 60
    expected = hand_loop(cfg, 60)
    assert np.array_equal(history[["x", "y", "loss"]].to_numpy(), expected)
    assert history["x"].iloc[-1] != history["x"].iloc[0]  # it moved


def test_gradient_noise_is_added_to_the_gradient_only() -> None:
    cfg = RunConfig(task="paths", surface="rosenbrock", optimizer="sgd", momentum=0.9, lr=1e-4,
                    epochs=40, grad_noise=30.0, batch_size=4)
    history = train(cfg).history
    g = torch.Generator().manual_seed(cfg.seed + 3)
    noise = [torch.randn(2, generator=g, dtype=torch.float64) * 30.0 / 2 for _ in range(40)]
    expected = hand_loop(cfg, 40, noise)
    assert np.array_equal(history[["x", "y", "loss"]].to_numpy(), expected)
    exact = train(cfg.replace(grad_noise=0.0)).history
    assert not np.array_equal(exact["x"].to_numpy(), history["x"].to_numpy())


def test_the_measured_sgd_stability_edge_is_two_over_lambda_max() -> None:
    cfg = RunConfig(task="paths", surface="bowl", condition=10.0, rotation=30.0, optimizer="sgd",
                    epochs=400, start_x=-3.0, start_y=2.0)
    step = 0.005
    grid = np.round(np.arange(1.80, 2.20, step), 6)
    stable = []
    for lr in grid:
        r = train(cfg.replace(lr=float(lr)))
        loss = r.history["loss"].to_numpy()
        stable.append(r.status == "completed" and loss[-1] <= loss[0])
    edge = grid[np.array(stable)].max()
    assert all(stable[: list(grid).index(edge) + 1])  # every lr below the edge is stable
    assert abs(edge - bowl_theory(cfg).sgd_edge) <= step


def test_critical_damping_beats_the_best_plain_sgd() -> None:
    cfg = RunConfig(task="paths", surface="bowl", condition=100.0, rotation=20.0, epochs=150)
    t = bowl_theory(cfg)
    assert t.momentum == pytest.approx((9 / 11) ** 2) and t.momentum_lr == pytest.approx(
        (2 / 1.1) ** 2)
    plain = train(cfg.replace(optimizer="sgd", lr=t.sgd_best_lr)).history["loss"].iloc[-1]
    best = train(cfg.replace(**optimum_settings(cfg))).history["loss"].iloc[-1]
    assert best < plain * 1e-4


HAND_GRADIENTS = {
    "bowl": None,  # checked through its Hessian below
    "rosenbrock": lambda x, y: (-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)),
    "beale": lambda x, y: (
        2 * (1.5 - x + x * y) * (y - 1) + 2 * (2.25 - x + x * y**2) * (y**2 - 1)
        + 2 * (2.625 - x + x * y**3) * (y**3 - 1),
        2 * (1.5 - x + x * y) * x + 2 * (2.25 - x + x * y**2) * 2 * x * y
        + 2 * (2.625 - x + x * y**3) * 3 * x * y**2),
    "himmelblau": lambda x, y: (4 * x * (x * x + y - 11) + 2 * (x + y * y - 7),
                                2 * (x * x + y - 11) + 4 * y * (x + y * y - 7)),
    "saddle": lambda x, y: (x, y * (y * y - 1)),
    "rastrigin": lambda x, y: (2 * x + 20 * math.pi * math.sin(2 * math.pi * x),
                               2 * y + 20 * math.pi * math.sin(2 * math.pi * y)),
}


@pytest.mark.parametrize("name", list(SURFACES))
def test_each_surface_gradient_minima_and_start(name: str) -> None:
    cfg = RunConfig(task="paths", surface=name, condition=50.0, rotation=35.0)
    spec = SURFACES[name]
    x0, x1, y0, y1 = spec.extent
    assert x0 <= spec.start[0] <= x1 and y0 <= spec.start[1] <= y1
    assert (cfg.start_x, cfg.start_y) == spec.start  # the surface's start is the default
    rng = np.random.default_rng(1)
    for x, y in rng.uniform([x0, y0], [x1, y1], size=(5, 2)):
        g = gradient(cfg, x, y)
        if name == "bowl":
            th = math.radians(35.0)
            rot = np.array([[math.cos(th), math.sin(th)], [-math.sin(th), math.cos(th)]])
            hessian = rot.T @ np.diag([1 / 50, 1.0]) @ rot
            expected = hessian @ np.array([x, y])
            assert float(value(cfg, torch.tensor(x), torch.tensor(y))) == pytest.approx(
                0.5 * np.array([x, y]) @ expected)
        else:
            expected = HAND_GRADIENTS[name](x, y)
        assert np.allclose(g, expected, rtol=1e-9, atol=1e-9)
    for mx, my in spec.minima:
        at = float(value(cfg, torch.tensor(mx, dtype=torch.float64),
                         torch.tensor(my, dtype=torch.float64)))
        assert at == pytest.approx(spec.floor, abs=1e-8)
        assert np.allclose(gradient(cfg, mx, my), 0, atol=1e-4)


def test_settings_are_validated_and_links_carry_the_surface_and_start() -> None:
    with pytest.raises(ConfigError, match="condition: 5000"):
        RunConfig(task="paths", condition=5000.0)
    with pytest.raises(ConfigError, match="surface: 'volcano'.*one of bowl"):
        RunConfig.from_dict({"task": "paths", "surface": "volcano"})
    cfg = RunConfig(task="paths", surface="himmelblau", start_x=1.25, start_y=-2.5)
    query = cfg.to_query()
    assert query["surface"] == "himmelblau" and query["start_x"] == "1.25"
    assert RunConfig.from_query(query) == (cfg, [])
    linked, problems = RunConfig.from_query({"task": "paths", "surface": "rosenbrock"})
    assert (linked.start_x, linked.start_y) == SURFACES["rosenbrock"].start and not problems


def test_a_race_of_three_starts_every_path_at_the_same_point() -> None:
    base = RunConfig(task="paths", surface="bowl", condition=50.0, epochs=50)
    configs = [base.replace(optimizer="sgd", lr=0.5), base.replace(optimizer="sgd", lr=0.5,
                                                                   momentum=0.9),
               base.replace(optimizer="adam", lr=0.3)]
    results = race(configs)
    starts = {(r.history["x"].iloc[0], r.history["y"].iloc[0]) for r in results}
    assert starts == {(base.start_x, base.start_y)}
    ends = {(r.history["x"].iloc[-1], r.history["y"].iloc[-1]) for r in results}
    assert len(ends) == 3
    assert results[1].history.equals(train(configs[1]).history.assign(
        seconds=results[1].history["seconds"]))


def test_cli_writes_the_path_and_its_picture(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(["train", "--set", "task=paths", "--set", "surface=rosenbrock", "--set",
                 "optimizer=adam", "--set", "lr=0.05", "--set", "epochs=30", "--out", str(out),
                 "--quiet"]) == 0
    lines = (out / "path.csv").read_text().splitlines()
    assert lines[0] == "step,x,y,loss,lr" and len(lines) == 31
    assert lines[1] == "1,-1.5,2.0,12.5,0.05"
    assert (out / "path.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
