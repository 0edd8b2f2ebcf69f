"""The loss landscape's core: its centre is the run's loss at those weights (every task, checked
against plain PyTorch and against the run's own next history row), filter normalisation, PCA
against numpy's SVD, and the 1-D slice along the next update."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from playground import surfaces
from playground.compare.directions import (
    filter_normalised,
    flatten,
    pca_plane,
    project,
    random_plane,
)
from playground.compare.landscape import SLICE_T, Evaluator, LandscapeOptions, compute
from playground.config import ConfigError, RunConfig
from playground.engine import Trainer
from playground.lessons import classify
from playground.tasks import TASKS, build

SMALL = LandscapeOptions(resolution=5, span=0.5)
RUNS = {  # small, quick runs of every task (full-batch where the lesson allows)
    "generate": RunConfig(model="conv", size=8, epochs=30, optimizer="adam", lr=0.01),
    "classify": RunConfig(**{**TASKS["classify"].defaults, "task": "classify", "samples": 120,
                             "size": 8, "epochs": 2, "batch_size": 16}),
    "line": RunConfig(**{**TASKS["line"].defaults, "task": "line", "epochs": 20,
                         "normalize": True, "lr": 0.1}),
    "paths": RunConfig(**{**TASKS["paths"].defaults, "task": "paths", "surface": "rosenbrock",
                          "optimizer": "adam", "lr": 0.05, "epochs": 60, "pace": 0}),
}


def trained(cfg: RunConfig, every: int = 1) -> tuple[Trainer, list[tuple[int, np.ndarray]]]:
    """A finished run and its weights at step 0 and every `every`-th step after."""
    t = Trainer(cfg)
    path = [(0, flatten(t.params).numpy().copy())]
    while not t.done:
        row = t.step()
        if row is not None and row.step % every == 0:
            path.append((row.step, flatten(t.params).numpy().copy()))
    return t, path


@pytest.fixture(scope="module")
def runs() -> dict[str, tuple[Trainer, list]]:
    return {task: trained(cfg) for task, cfg in RUNS.items()}


def plain_loss(cfg: RunConfig, state: dict) -> float:
    """The loss at the state's weights written out in plain PyTorch, per lesson."""
    model = build(cfg).model
    model.load_state_dict(state["model"])
    model.eval()
    with torch.no_grad():
        if cfg.task == "paths":
            x, y = model.xy
            return float(surfaces.value(cfg, x, y))
        if cfg.task == "classify":
            x, y = classify.make_dataset(cfg)
            (xt, yt), _, _ = classify.split(cfg, x, y)
            return float(nn.CrossEntropyLoss()(model(xt), yt))
        b = build(cfg)
        x, y = b.loader.inputs, b.loader.targets
        return float(b.criterion(model(x), y))


@pytest.mark.parametrize("task", list(TASKS))
def test_the_centre_is_the_runs_loss_at_those_weights(runs: dict, task: str) -> None:
    trainer, path = runs[task]
    state = trainer.state_dict()
    land = compute(RUNS[task], None, state, path, SMALL)
    half = SMALL.resolution // 2
    assert land.grid[half, half] == land.centre_loss
    assert land.centre_loss == pytest.approx(plain_loss(RUNS[task], state), rel=1e-5)
    if task != "classify":  # full-batch, no dropout: the run's own next row measures these weights
        again = Trainer(RUNS[task])
        again.load_state_dict(state)
        again.rules.status = "running"  # the run ended: asked for one more step all the same
        assert land.centre_loss == pytest.approx(again.step().loss, rel=1e-5)


def test_a_large_training_set_is_a_fixed_subset() -> None:
    cfg = RUNS["classify"].replace(samples=5000)
    first, second = Evaluator(build(cfg), 0), Evaluator(build(cfg), 0)
    assert sum(len(x) for x, _ in first.batches) == 2048 and "subset of 2,048" in first.data
    assert all(torch.equal(a[0], b[0]) for a, b in zip(first.batches, second.batches, strict=True))


@pytest.mark.parametrize("model", ["cnn", "mlp"])
def test_filter_normalisation_gives_each_filter_the_weights_norm(model: str) -> None:
    weights = [p.detach() for p in build(RUNS["classify"].replace(model=model)).model.parameters()]
    g = torch.Generator().manual_seed(0)
    d1, d2 = filter_normalised(weights, g), filter_normalised(weights, g)
    for w, d in zip(weights, d1, strict=True):
        if w.dim() <= 1:
            assert not d.any()  # biases: held fixed, as the paper's code does
        else:
            for wf, df in zip(w, d, strict=True):
                assert float(df.norm()) == pytest.approx(float(wf.norm()), rel=1e-5)
    assert not torch.equal(flatten(d1), flatten(d2))


def test_a_model_without_filters_gets_orthonormal_random_directions() -> None:
    weights = [p.detach() for p in build(RUNS["line"]).model.parameters()]
    d1, d2, note = random_plane(weights, 0)
    assert "orthonormal" in note
    assert float(d1 @ d2) == pytest.approx(0, abs=1e-6)
    assert float(d1.norm()) == pytest.approx(1) and float(d2.norm()) == pytest.approx(1)


def test_pca_matches_numpy_svd_and_captures_the_most_variance() -> None:
    rng = np.random.default_rng(0)
    snaps = rng.normal(size=(12, 40)) * np.linspace(3, 0.1, 40)  # a few dominant directions
    final = snaps[-1]
    u1, u2, share = pca_plane(torch.tensor(snaps), torch.tensor(final))
    centred = (snaps - final) - (snaps - final).mean(axis=0)
    _, s, vh = np.linalg.svd(centred, full_matrices=False)
    assert abs(float(u1.numpy() @ vh[0])) == pytest.approx(1) and abs(float(u2.numpy() @ vh[1])) \
        == pytest.approx(1)
    assert share == pytest.approx(s[:2] ** 2 / (s ** 2).sum())
    captured = lambda q: float(((centred @ q) ** 2).sum())  # noqa: E731
    best = captured(np.stack([u1.numpy(), u2.numpy()], axis=1))
    assert best == pytest.approx(s[0] ** 2 + s[1] ** 2)
    for _ in range(20):  # no other plane holds more of the variance
        q, _ = np.linalg.qr(rng.normal(size=(40, 2)))
        assert captured(q) < best
    coords, _ = project(torch.tensor(snaps - final), u1, u2)
    assert np.allclose(coords[-1], 0)


def test_the_pca_path_ends_at_the_origin_and_lies_nearer_the_plane_than_random(runs: dict) -> None:
    trainer, path = runs["classify"]
    pca = compute(RUNS["classify"], None, trainer.state_dict(), path, SMALL)
    rnd = compute(RUNS["classify"], None, trainer.state_dict(), path,
                  LandscapeOptions(directions="random", resolution=5))
    assert pca.path.iloc[-1][["a", "b"]].tolist() == [0, 0]
    assert pca.path["step"].iloc[-1] == trainer.step_count
    assert pca.path[["a", "b"]].abs().to_numpy().max() == pytest.approx(1)  # span units: the reach
    assert pca.in_plane > 0.5 > rnd.in_plane
    assert pca.path["loss"].iloc[0] > pca.path["loss"].iloc[-1]
    assert pca.centre_loss == rnd.centre_loss


def test_the_slice_along_the_next_update_starts_at_the_loss_and_lands_after_one_step() -> None:
    cfg = RUNS["line"].replace(normalize=False, lr=2e-4, epochs=5)  # SGD, too large a rate
    trainer, path = trained(cfg)
    land = compute(cfg, None, trainer.state_dict(), path, SMALL)
    loss = dict(zip(SLICE_T, land.line["loss"], strict=True))
    assert loss[0.0] == land.centre_loss
    trainer.rules.status = "running"
    trainer.step()  # the step the slice drew, taken by the run itself...
    after = trainer.step()  # ...and the run's own loss where it landed (full batch)
    assert loss[1.0] == pytest.approx(after.loss, rel=1e-5)
    assert loss[1.0] > loss[0.0] and land.best_t < 1  # it overshot: a shorter step was better
    assert land.lr == pytest.approx(2e-4) and land.update_norm > 0


def test_the_slice_lands_where_a_minibatch_momentum_step_lands(runs: dict) -> None:
    cfg = RUNS["classify"].replace(optimizer="sgd", momentum=0.9, lr=0.05)
    trainer, path = trained(cfg)
    land = compute(cfg, None, trainer.state_dict(), path, SMALL)
    trainer.rules.status = "running"
    trainer.step()
    ev = Evaluator(build(cfg), cfg.seed)
    landed = ev.loss_at(flatten(trainer.params))
    assert land.line.loc[land.line["t"] == 1.0, "loss"].item() == pytest.approx(landed, rel=1e-5)


@pytest.mark.parametrize(("options", "words"), [
    (LandscapeOptions(resolution=24), "odd number"),
    (LandscapeOptions(resolution=61), "allows 100"),
    (LandscapeOptions(span=0), "span=0"),
    (LandscapeOptions(directions="sideways"), "not one of"),
])
def test_bad_options_get_one_sentence(options: LandscapeOptions, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        options.check(max_evals=100)


def test_the_evaluations_are_the_grid_the_path_and_the_slice(runs: dict) -> None:
    trainer, path = runs["paths"]
    seen = []
    land = compute(RUNS["paths"], None, trainer.state_dict(), path, SMALL,
                   on_progress=lambda done, total: seen.append((done, total)))
    assert land.evaluations == 25 + len(path) + len(SLICE_T) == seen[-1][0] == seen[-1][1]


def test_pca_needs_a_path() -> None:
    trainer, path = trained(RUNS["paths"].replace(epochs=1))
    with pytest.raises(ConfigError, match="too few moments"):
        compute(RUNS["paths"], None, trainer.state_dict(), path, SMALL)


def test_the_charts_band_the_map_by_log_loss_and_mark_now_and_the_landing() -> None:
    from playground.charts import landscape as charts
    from playground.compare.landscape import verdict

    cfg = RUNS["line"].replace(normalize=False, lr=2e-4, epochs=5)
    trainer, path = trained(cfg)
    land = compute(cfg, None, trainer.state_dict(), path, SMALL)
    band, _ = charts.bands(np.array([[1.0, 10.0], [1000.0, np.inf]]), levels=4)
    assert band.tolist() == [[0, 1], [3, 3]]  # log-spaced heights, and the blown-up cell on top
    spec = charts.contour_chart(land).to_dict()
    assert len(spec["layer"]) == 5  # the map, the path, its points, the start and now
    marks = charts.slice_chart(land).to_dict()
    assert len(marks["layer"]) == 3  # the curve, now and the landing, the lowest point
    text = verdict(land, "sgd")
    assert "overshoots" in text and f"{land.lr * land.best_t:.3g}" in text
