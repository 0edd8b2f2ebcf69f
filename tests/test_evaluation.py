"""The classify lesson's test-set evaluation: the metrics by hand, the report, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from playground import RunConfig
from playground.cli import main
from playground.engine import Trainer
from playground.lessons import classify
from playground.lessons.evaluation import evaluate_config, model_size, per_class

SMALL = ["--set", "task=classify", "--set", "samples=120", "--set", "epochs=2", "--quiet"]


def test_precision_recall_f1_match_hand_computed_values() -> None:
    # rows are the truth: class 0 has 5 examples (4 right), class 1 has 3 (2 right), class 2
    # has 2 and is never predicted; columns sum to 5, 4, 1... see each line below
    m = np.array([[4, 1, 0],
                  [1, 2, 0],
                  [0, 1, 1]])
    s = per_class(m)
    # precision = diagonal / column sum: 4/5, 2/4, 1/1
    assert s["precision"] == pytest.approx([0.8, 0.5, 1.0])
    # recall = diagonal / row sum: 4/5, 2/3, 1/2
    assert s["recall"] == pytest.approx([0.8, 2 / 3, 0.5])
    # f1 = 2pr/(p+r): 0.8, 2*0.5*(2/3)/(0.5+2/3) = 4/7, 2*1*0.5/1.5 = 2/3
    assert s["f1"] == pytest.approx([0.8, 4 / 7, 2 / 3])
    assert s["support"].tolist() == [5, 3, 2]


def test_a_class_never_predicted_scores_zero_not_nan() -> None:
    s = per_class(np.array([[3, 0], [2, 0]]))
    assert s["precision"].tolist() == [0.6, 0.0] and s["recall"].tolist() == [1.0, 0.0]
    assert s["f1"][1] == 0.0 and not np.isnan(s["f1"]).any()


def test_model_size_counts_parameters_and_buffers() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(10, 5), torch.nn.BatchNorm1d(5))
    size = model_size(model)
    assert size["parameters"] == 10 * 5 + 5 + 5 + 5
    # float32 parameters and running mean/var, plus the int64 batch counter
    assert size["size_bytes"] == 4 * (65 + 10) + 8 and size["size_mb"] == pytest.approx(308e-6)


def test_report_on_the_test_split_is_deterministic_and_sums_to_its_size() -> None:
    cfg = RunConfig.from_dict({"task": "classify", "samples": 200, "epochs": 2, "test_split": 0.2})
    trainer = Trainer(cfg)
    while not trainer.done:
        trainer.step()
    first, second = evaluate_config(trainer.b.model, cfg), evaluate_config(trainer.b.model, cfg)
    first.pop("ms_per_sample"), second.pop("ms_per_sample")  # a timing, never the same twice
    assert first == second
    assert first["test_size"] == classify.split_sizes(cfg)[2] == 40
    assert np.array(first["confusion"]).sum() == 40
    assert sum(r["support"] for r in first["per_class"]) == 40
    assert first["accuracy"] == pytest.approx(np.trace(first["confusion"]) / 40)
    assert trainer.view()["test"]["confusion"] == first["confusion"]  # the page gets the same


def test_the_test_report_appears_only_once_the_run_has_ended() -> None:
    trainer = Trainer(RunConfig.from_dict({"task": "classify", "samples": 80, "epochs": 1}))
    assert "test" not in trainer.view()
    while not trainer.done:
        trainer.step()
    report = trainer.view()["test"]
    assert report["ms_per_sample"] > 0 and report["parameters"] > 0
    assert "test" not in Trainer(trainer.cfg.replace(test_split=0.0)).view()


def test_cli_evaluate_writes_the_report(tmp_path: Path, capsys) -> None:
    assert main(["train", *SMALL, "--out", str(tmp_path)]) == 0
    assert "validation accuracy" in capsys.readouterr().err  # the last line says how it does
    written = json.loads((tmp_path / "evaluation.json").read_text())  # train writes it too
    assert main(["evaluate", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "evaluation.json").read_text())
    assert {"accuracy", "per_class", "macro", "confusion", "parameters", "size_mb",
            "ms_per_sample", "test_size", "checkpoint"} <= set(report)
    assert report["checkpoint"] == "best.pt" and report["confusion"] == written["confusion"]
    assert {"precision", "recall", "f1", "support"} <= set(report["per_class"][0])
    assert "test accuracy" in capsys.readouterr().out
    lines = (tmp_path / "test_confusion.csv").read_text().splitlines()
    assert lines[0].startswith("truth") and len(lines) == 1 + 4


def test_cli_evaluate_prefers_the_best_checkpoint(tmp_path: Path) -> None:
    assert main(["train", *SMALL, "--out", str(tmp_path)]) == 0
    final = torch.load(tmp_path / "final.pt", weights_only=True)
    zeroed = {k: torch.zeros_like(v) for k, v in final["model"].items()}
    torch.save({**final, "model": zeroed}, tmp_path / "best.pt")
    assert main(["evaluate", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "evaluation.json").read_text())
    assert report["checkpoint"] == "best.pt"
    assert np.array(report["confusion"])[:, 1:].sum() == 0  # zero logits: all the first class


@pytest.mark.parametrize(("setup", "message"), [
    ("missing", "no run folder at"),
    ("no_checkpoint", "has no checkpoint (best.pt or final.pt)"),
    ("line", "only classify runs have a test set"),
    ("no_test", "this run has test_split=0: "),
])
def test_cli_evaluate_refuses_with_one_sentence(tmp_path: Path, capsys, setup: str,
                                                message: str) -> None:
    run = tmp_path / "run"
    if setup != "missing":
        run.mkdir()
        changes = {"line": {"task": "line"}, "no_test": {"task": "classify", "test_split": 0.0}}
        cfg = RunConfig.from_dict(changes.get(setup, {"task": "classify"}))
        (run / "config.json").write_text(cfg.to_json())
        if setup == "no_test":
            model = classify.CLASSIFIERS[cfg.model].make(cfg)
            torch.save({"model": model.state_dict(), "config": cfg.to_dict()}, run / "final.pt")
    assert main(["evaluate", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err
    assert err.count("\n") == 0 and err.endswith(".")  # one sentence
    assert not (run / "evaluation.json").exists()
