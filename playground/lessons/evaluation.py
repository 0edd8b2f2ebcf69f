"""Test-set evaluation of a trained classifier: accuracy, per-class precision / recall / F1, the
confusion matrix on held-out data, and what the model costs (parameters, megabytes, milliseconds
per sample). Pure torch and numpy, so the engine, the page and the CLI share one report.

The test split is looked at once, after training: validation chose the epoch and the settings, so
only data that chose nothing gives an honest estimate of how the model does on new sprites.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from playground.config import ConfigError, RunConfig
from playground.lessons import classify

TIMING_REPEATS = 5  # no-grad passes over the test set; the fastest one is reported
CHECKPOINTS = ("best.pt", "final.pt")  # the best weights when the run kept them, else the last


class EvaluationError(ValueError):
    """A run folder that cannot be evaluated; the message says why in one sentence."""


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


def held_out(cfg: RunConfig) -> tuple[Tensor, Tensor]:
    """The run's test split, rebuilt: the dataset is seeded by cfg.seed, so it is the same one."""
    x, y = classify.make_dataset(cfg)
    return classify.split(cfg, x, y)[2]


def evaluate_config(model: nn.Module, cfg: RunConfig) -> dict[str, Any]:
    """Evaluate a classify model on its config's test split (refused when there is none)."""
    check_evaluable(cfg)
    x, y = held_out(cfg)
    if not len(y):
        raise EvaluationError(f"this run's test split is empty ({cfg.samples} samples leave none "
                              "after validation and training).")
    return evaluate(model, x, y, list(classify.SHAPES[:cfg.classes]))


def check_evaluable(cfg: RunConfig) -> None:
    """Only a classify run with a test split has held-out data to report on."""
    if cfg.task != "classify":
        raise EvaluationError(f"only classify runs have a test set to evaluate; this run's task is "
                              f"{cfg.task}.")
    if cfg.test_split <= 0:
        raise EvaluationError("this run has test_split=0: it kept no test data, so train it again "
                              "with --set test_split=0.15 to evaluate it.")


def load_run(run_dir: Path) -> tuple[RunConfig, nn.Module, Path]:
    """A run folder's config and model with its best (else final) checkpoint's weights."""
    if not run_dir.is_dir():
        raise EvaluationError(f"no run folder at {run_dir}.")
    try:
        cfg = RunConfig.from_json((run_dir / "config.json").read_text(encoding="utf-8"))
    except OSError:
        raise EvaluationError(f"{run_dir} has no config.json: is it a folder written by "
                              f"`train --out`?") from None
    except (ConfigError, ValueError) as exc:
        raise EvaluationError(f"{run_dir / 'config.json'} is not a valid config: {exc}") from None
    check_evaluable(cfg)
    path = next((run_dir / n for n in CHECKPOINTS if (run_dir / n).is_file()), None)
    if path is None:
        raise EvaluationError(f"{run_dir} has no checkpoint (best.pt or final.pt) to evaluate.")
    model = classify.CLASSIFIERS[cfg.model].make(cfg)
    try:
        model.load_state_dict(torch.load(path, weights_only=True)["model"])
    except (OSError, RuntimeError, KeyError, TypeError) as exc:
        raise EvaluationError(f"{path} does not hold this run's model weights: "
                              f"{str(exc).splitlines()[0]}") from None
    return cfg, model, path


def evaluate_run(run_dir: Path) -> dict[str, Any]:
    """Evaluate a run folder's checkpoint on its test split; write evaluation.json and
    test_confusion.csv next to it and return the report."""
    cfg, model, path = load_run(run_dir)
    report = {"checkpoint": path.name, "model": cfg.model, **evaluate_config(model, cfg)}
    (run_dir / "evaluation.json").write_text(json.dumps(report, indent=2) + "\n")
    (run_dir / "test_confusion.csv").write_text(confusion_csv(report))
    return report


def confusion_csv(report: dict[str, Any]) -> str:
    """The test confusion matrix as CSV: rows are the truth, columns the prediction."""
    names = report["classes"]
    rows = [",".join(["truth\\predicted", *names])]
    rows += [",".join([n, *map(str, r)]) for n, r in zip(names, report["confusion"], strict=True)]
    return "\n".join(rows) + "\n"


def format_report(report: dict[str, Any]) -> str:
    """The report as a few lines of text for the terminal."""
    lines = [f"test accuracy {report['accuracy']:.1%} on {report['test_size']} held-out sprites",
             f"{'class':<10} {'precision':>9} {'recall':>7} {'f1':>6} {'support':>8}"]
    lines += [f"{r['class']:<10} {r['precision']:>9.3f} {r['recall']:>7.3f} {r['f1']:>6.3f} "
              f"{r['support']:>8}" for r in report["per_class"]]
    m = report["macro"]
    lines.append(f"{'macro avg':<10} {m['precision']:>9.3f} {m['recall']:>7.3f} {m['f1']:>6.3f} "
                 f"{report['test_size']:>8}")
    lines.append(f"{report['parameters']:,} parameters, {report['size_mb']:.3f} MB, "
                 f"{report['ms_per_sample']:.4f} ms per sample")
    return "\n".join(lines)
