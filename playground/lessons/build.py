"""Builders for the lessons beyond sprites: shape classification and the house-price line.

Each returns the same `Built` as a sprite run, plus a per-epoch `evaluate` and a `view` for the
page, so one Trainer, one worker and one CLI serve every lesson.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from playground.bugs.inject import apply, validation
from playground.ingredients import Built, Loader
from playground.lessons import classify, linefit, metrics
from playground.losses import LOSSES
from playground.models import seed_weights
from playground.optim import make_optimizer
from playground.schedules import make_scheduler

if TYPE_CHECKING:
    from playground.config import RunConfig

CLASSIFY_COLUMNS = ("epoch_loss", "train_accuracy", "val_loss", "val_accuracy", "bad_epochs")
MISCLASSIFIED = 12  # misclassified validation sprites shown in the gallery


def _finish(cfg: RunConfig, model: nn.Module, loader: Any, criterion: nn.Module,
            **extra: Any) -> Built:
    optimizer = make_optimizer(model.parameters(), cfg)
    return apply(cfg, Built(cfg, model, loader, criterion, optimizer, make_scheduler(optimizer, cfg),
                            None, **extra))


def build_classify(cfg: RunConfig, target: Any = None) -> Built:
    """Shapes dataset, train/validation split, a real DataLoader and the chosen classifier."""
    x, y = classify.make_dataset(cfg)
    (xt, yt), (xv, yv), (xs, ys) = classify.split(cfg, x, y)
    model = seed_weights(classify.CLASSIFIERS[cfg.model].make(cfg), cfg.seed)
    criterion = classify.CLASS_LOSSES[cfg.loss].make()
    validating = validation(cfg)  # eval mode without gradients, unless the run's bug forgets it

    def evaluate(m: nn.Module) -> dict[str, float]:
        """Validation in eval mode without gradients (dropout off), plus train accuracy."""
        dev = _device(m)
        with validating(m):
            val_logits, labels = m(xv.to(dev)), yv.to(dev)
            metrics = {"val_loss": float(criterion(val_logits, labels)),
                       "val_accuracy": _accuracy(val_logits, labels),
                       "train_accuracy": _accuracy(m(xt.to(dev)), yt.to(dev))}
        return metrics

    def view(m: nn.Module) -> dict[str, Any]:
        """Confusion matrix and the misclassified validation sprites."""
        m.eval()
        with torch.no_grad():
            preds = classify.predict(m(xv.to(_device(m)))).cpu()
        m.train()
        wrong = (preds != yv).nonzero().flatten()[:MISCLASSIFIED]
        images = (xv[wrong].permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
        return {"confusion": classify.confusion(yv, preds, cfg.classes),
                "classes": list(classify.SHAPES[:cfg.classes]),
                "misclassified": [(images[i], int(yv[j]), int(preds[j]))
                                  for i, j in enumerate(wrong.tolist())]}

    def test(m: nn.Module) -> dict[str, Any]:
        """The held-out test split's report (see metrics.py), for the end of a run."""
        return metrics.evaluate(m, xs, ys, list(classify.SHAPES[:cfg.classes]))

    return _finish(cfg, model, classify.loader(cfg, xt, yt), criterion, evaluate=evaluate,
                   view=view, extra_columns=CLASSIFY_COLUMNS, test=test if len(ys) else None)


def _device(m: nn.Module) -> torch.device:
    """Where the model's weights are (the data is moved there to meet them)."""
    return next(m.parameters()).device


def _accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return float((classify.predict(logits) == labels).float().mean())


def build_line(cfg: RunConfig, target: Any = None) -> Built:
    """House sizes and prices, optionally standardised, and nn.Linear(1, 1) starting at zero."""
    points = linefit.house_points(cfg)
    scaler = linefit.Scaler(points, cfg.normalize)
    x, y = scaler.tensors(points)
    model = seed_weights(linefit.LINE_MODELS[cfg.model].make(cfg), cfg.seed)

    def view(m: nn.Module) -> dict[str, Any]:
        slope, intercept = scaler.line(m.fc)
        return {"points": points, "slope": slope, "intercept": intercept,
                "weight": float(m.fc.weight.detach()[0, 0]), "bias": float(m.fc.bias.detach()[0]),
                "closed_form": linefit.closed_form(points) if len(points) > 1 else None}

    return _finish(cfg, model, Loader(x, y, cfg.batch_size, cfg.seed + 3), LOSSES[cfg.loss].make(),
                   view=view)
