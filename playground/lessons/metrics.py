"""The test-set report on a classifier's held-out data: accuracy, per-class precision / recall /
F1, the confusion matrix, and what the model costs. Pure torch and numpy with no config, so the
lesson builders (which the task registry, and so the config, reach) can use it; reading a run
folder is `evaluation.py`'s.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from playground.lessons import classify

TIMING_REPEATS = 5  # no-grad passes over the test set; the fastest one is reported


def per_class(matrix: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall, F1 and support per class from a confusion matrix (rows = truth);
    a class never predicted (or never present) scores 0 rather than dividing by zero."""
    m = np.asarray(matrix, dtype=np.float64)
    tp, predicted, support = np.diag(m), m.sum(axis=0), m.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    both = precision + recall
    f1 = np.divide(2 * precision * recall, both, out=np.zeros_like(tp), where=both > 0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support.astype(int)}


def model_size(model: nn.Module) -> dict[str, float]:
    """Parameter count and the bytes a saved model takes (parameters plus buffers)."""
    tensors = [*model.parameters(), *model.buffers()]
    nbytes = sum(t.numel() * t.element_size() for t in tensors)
    return {"parameters": sum(p.numel() for p in model.parameters()), "size_bytes": nbytes,
            "size_mb": nbytes / 1e6}


def ms_per_sample(model: nn.Module, x: Tensor, repeats: int = TIMING_REPEATS) -> float:
    """Inference time per sample in eval mode without gradients: a warm-up pass, then the fastest
    of `repeats` timed passes (the least disturbed by whatever else the machine does)."""
    was_training = model.training
    model.eval()
    best = float("inf")
    with torch.no_grad():
        model(x)
        for _ in range(repeats):
            start = time.perf_counter()
            model(x)
            best = min(best, time.perf_counter() - start)
    model.train(was_training)
    return best * 1000 / max(len(x), 1)


def evaluate(model: nn.Module, x: Tensor, y: Tensor, classes: list[str]) -> dict[str, Any]:
    """The full report on (x, y): accuracy, per-class and macro P/R/F1, confusion, cost."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        preds = classify.predict(model(x))
    model.train(was_training)
    matrix = classify.confusion(y, preds, len(classes))
    scores = per_class(matrix)
    rows = [{"class": name, "precision": float(scores["precision"][i]),
             "recall": float(scores["recall"][i]), "f1": float(scores["f1"][i]),
             "support": int(scores["support"][i])} for i, name in enumerate(classes)]
    macro = {k: float(np.mean(scores[k])) for k in ("precision", "recall", "f1")}
    return {"test_size": len(y), "accuracy": float(np.trace(matrix) / max(len(y), 1)),
            "classes": list(classes), "per_class": rows, "macro": macro,
            "confusion": matrix.tolist(), **model_size(model),
            "ms_per_sample": ms_per_sample(model, x)}
