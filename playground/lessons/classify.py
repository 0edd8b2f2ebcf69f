"""The classification lesson: a seeded dataset of small shape sprites, three classifiers, and the
full Trainer ingredients (a real DataLoader, a validation split, cross-entropy)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from playground.losses import LossSpec
from playground.models import ModelSpec

if TYPE_CHECKING:
    from playground.config import RunConfig

SHAPES = ("circle", "square", "triangle", "cross", "ring", "diamond")


def _mask(shape: str, xx: np.ndarray, yy: np.ndarray, r: float) -> np.ndarray:
    """Where a shape of radius r centred at the origin covers the grid."""
    ax, ay = np.abs(xx), np.abs(yy)
    if shape == "circle":
        return xx**2 + yy**2 <= r**2
    if shape == "square":
        return (ax <= r * 0.85) & (ay <= r * 0.85)
    if shape == "triangle":
        return (yy <= r * 0.8) & (yy >= -r) & (ax <= (yy + r) * 0.55)
    if shape == "cross":
        bar = r * 0.3
        return ((ax <= bar) & (ay <= r)) | ((ay <= bar) & (ax <= r))
    if shape == "ring":
        d = np.sqrt(xx**2 + yy**2)
        return (d <= r) & (d >= r * 0.55)
    return ax + ay <= r  # diamond


def make_dataset(cfg: RunConfig) -> tuple[Tensor, Tensor]:
    """(images (N, 3, S, S) in [0, 1], labels (N,)): shapes varying in place, size, colour, noise."""
    rng = np.random.default_rng(cfg.seed)
    n, s, k = cfg.samples, cfg.size, cfg.classes
    labels = np.arange(n) % k
    rng.shuffle(labels)
    c = (np.arange(s) + 0.5) / s * 2 - 1
    yy0, xx0 = np.meshgrid(c, c, indexing="ij")
    images = np.empty((n, 3, s, s), np.float32)
    for i, label in enumerate(labels):
        r = rng.uniform(0.35, 0.7)
        cx, cy = rng.uniform(-(1 - r), 1 - r, size=2)
        mask = _mask(SHAPES[label], xx0 - cx, yy0 - cy, r)
        fg, bg = rng.uniform(0.45, 1.0, 3), rng.uniform(0.0, 0.3, 3)
        img = np.where(mask, fg[:, None, None], bg[:, None, None])
        images[i] = img + rng.normal(0, cfg.noise, img.shape)
    return torch.from_numpy(images.clip(0, 1)), torch.from_numpy(labels).long()


Pair = tuple[Tensor, Tensor]


def split_sizes(cfg: RunConfig) -> tuple[int, int, int]:
    """How many examples train, validate and test (validation and test get at least one each
    when asked for; training keeps at least one)."""
    n_val = max(1, int(round(cfg.samples * cfg.val_split)))
    n_test = max(1, int(round(cfg.samples * cfg.test_split))) if cfg.test_split > 0 else 0
    n_test = min(n_test, cfg.samples - n_val - 1)
    return cfg.samples - n_val - n_test, n_val, n_test


def split(cfg: RunConfig, x: Tensor, y: Tensor) -> tuple[Pair, Pair, Pair]:
    """Fixed train / validation / test splits (the data is already shuffled): validation first,
    test last, training in between, so adding a test split leaves the validation set as it was."""
    n_train, n_val, _ = split_sizes(cfg)
    end = n_val + n_train
    return (x[n_val:end], y[n_val:end]), (x[:n_val], y[:n_val]), (x[end:], y[end:])


def loader(cfg: RunConfig, x: Tensor, y: Tensor) -> DataLoader:
    """The real torch DataLoader, shuffling with its own seeded generator."""
    g = torch.Generator().manual_seed(cfg.seed + 3)
    return DataLoader(TensorDataset(x, y), batch_size=cfg.batch_size, shuffle=True, generator=g)


def _outputs(cfg: RunConfig) -> int:
    """BCE on two classes uses one logit; cross-entropy one logit per class."""
    return 1 if cfg.loss == "bce" else cfg.classes


class LogReg(nn.Module):
    """Logistic regression on flattened pixels: one linear layer, the simplest classifier."""

    def __init__(self, cfg: RunConfig) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(3 * cfg.size**2, _outputs(cfg)))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class CentreShape(nn.Module):
    """Moves each sprite's shape to the middle (by its centre of mass, as MNIST centres its digits)
    and standardises it: an MLP's weights belong to fixed pixel positions, so a shape it learned in
    one corner is a new pattern in another. No weights: the same fixed step in training and use."""

    def forward(self, x: Tensor) -> Tensor:
        n, _, h, w = x.shape
        gray = x.mean(dim=1)
        mass = (gray - gray.mean(dim=(1, 2), keepdim=True)).clamp(min=0)  # the brighter shape
        total = mass.sum(dim=(1, 2)) + 1e-8
        ys = (torch.arange(h, dtype=x.dtype) + 0.5) / h * 2 - 1
        xs = (torch.arange(w, dtype=x.dtype) + 0.5) / w * 2 - 1
        theta = torch.zeros(n, 2, 3, dtype=x.dtype)
        theta[:, 0, 0] = theta[:, 1, 1] = 1
        theta[:, 0, 2] = (mass.sum(dim=1) * xs).sum(dim=1) / total
        theta[:, 1, 2] = (mass.sum(dim=2) * ys).sum(dim=1) / total
        grid = nn.functional.affine_grid(theta, list(x.shape), align_corners=False)
        out = nn.functional.grid_sample(x, grid, padding_mode="border", align_corners=False)
        mean, std = out.mean(dim=(1, 2, 3), keepdim=True), out.std(dim=(1, 2, 3), keepdim=True)
        return (out - mean) / (std + 1e-5)


class MLPClassifier(nn.Module):
    """Hidden layers with ReLU and optional dropout (which makes train and eval modes differ), on
    centred sprites: without CentreShape it reaches only 40% validation accuracy at the defaults."""

    def __init__(self, cfg: RunConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = [CentreShape(), nn.Flatten()]
        width = 3 * cfg.size**2
        for _ in range(cfg.depth):
            layers += [nn.Linear(width, cfg.hidden), nn.ReLU(), nn.Dropout(cfg.dropout)]
            width = cfg.hidden
        layers.append(nn.Linear(width, _outputs(cfg)))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class SmallCNN(nn.Module):
    """Two conv blocks then a linear head: shares weights across positions, so shapes anywhere."""

    def __init__(self, cfg: RunConfig) -> None:
        super().__init__()
        ch = max(4, cfg.hidden // 4)
        self.net = nn.Sequential(
            nn.Conv2d(3, ch, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(ch, 2 * ch, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4),
            nn.Flatten(), nn.Dropout(cfg.dropout), nn.Linear(2 * ch * 16, _outputs(cfg)))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


_DATA = ("size", "batch_size")
CLASSIFIERS: dict[str, ModelSpec] = {
    "logreg": ModelSpec(LogReg, "Logistic regression: one linear layer on the flattened pixels.",
                        _DATA, race_lr={"sgd": 0.1, "adam": 0.003}),
    "mlp": ModelSpec(MLPClassifier, "MLP classifier: centres each shape, then hidden layers "
                     "with ReLU and optional dropout.",
                     (*_DATA, "hidden", "depth", "dropout"), race_lr={"sgd": 0.01, "adam": 0.001}),
    "cnn": ModelSpec(SmallCNN, "Small CNN: two conv blocks and a linear head; finds shapes anywhere.",
                     (*_DATA, "hidden", "dropout"), race_lr={"sgd": 0.05, "adam": 0.01}),
}


class BCELogits(nn.Module):
    """Two-class BCE on one logit, taking the same integer labels as cross-entropy."""

    def __init__(self) -> None:
        super().__init__()
        self.loss = nn.BCEWithLogitsLoss()

    def forward(self, logits: Tensor, labels: Tensor) -> Tensor:
        return self.loss(logits.squeeze(1), labels.float())


CLASS_LOSSES: dict[str, LossSpec] = {
    "ce": LossSpec(nn.CrossEntropyLoss, doc="Cross-entropy: softmax over the class scores, then the "
                   "negative log of the true class's probability."),
    "bce": LossSpec(BCELogits, doc="Binary cross-entropy: two classes, one logit."),
}


def predict(logits: Tensor) -> Tensor:
    """Class predictions from logits (one logit means two-class BCE)."""
    if logits.shape[1] == 1:
        return (logits[:, 0] > 0).long()
    return logits.argmax(dim=1)


def confusion(labels: Tensor, preds: Tensor, classes: int) -> np.ndarray:
    """classes x classes counts: rows are the truth, columns the prediction."""
    m = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(m, (labels.numpy(), preds.numpy()), 1)
    return m


PRESETS: dict[str, dict] = {
    "default": {},
    # 50 training sprites of two classes, no dropout, 150 epochs: training accuracy reaches 100%
    # while the validation loss turns and climbs (tests/test_experiments.py checks the U shape)
    "overfit": {"model": "cnn", "classes": 2, "samples": 100, "val_split": 0.5, "noise": 0.15,
                "dropout": 0.0, "epochs": 150, "lr": 0.003, "patience": 0},
}
