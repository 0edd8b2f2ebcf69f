"""Test-set evaluation of a trained classifier's run folder or config: its held-out split rebuilt
and reported on (the report itself, shared by the engine, the page and the CLI, is `metrics.py`).

The test split is looked at once, after training: validation chose the epoch and the settings, so
only data that chose nothing gives an honest estimate of how the model does on new sprites.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from playground.config import ConfigError, RunConfig
from playground.lessons import classify
from playground.lessons.metrics import evaluate, model_size, per_class

__all__ = ["EvaluationError", "evaluate", "evaluate_config", "evaluate_run", "format_report",
           "model_size", "per_class"]

CHECKPOINTS = ("best.pt", "final.pt")  # the best weights when the run kept them, else the last


class EvaluationError(ValueError):
    """A run folder that cannot be evaluated; the message says why in one sentence."""


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
