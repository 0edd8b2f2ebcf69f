"""The paths lesson's ready-made races: the surface they race on, and the contenders."""

from __future__ import annotations

from typing import Any

# name -> (the shared setup the sidebar takes, one row of changes per contender)
RACES: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {
    "SGD vs momentum vs Adam on a narrow valley": (
        {"surface": "bowl", "condition": 50.0, "rotation": 30.0, "start_x": -4.0, "start_y": 2.0,
         "epochs": 150, "grad_noise": 0.0},
        [{"optimizer": "sgd", "lr": 1.9, "momentum": 0.0},
         {"optimizer": "sgd", "lr": 0.5, "momentum": 0.9},
         {"optimizer": "adam", "lr": 0.2, "momentum": 0.0}]),
    "LR sweep on the bowl": (
        {"surface": "bowl", "condition": 10.0, "rotation": 20.0, "start_x": -4.0, "start_y": 2.0,
         "epochs": 100, "grad_noise": 0.0},
        [{"optimizer": "sgd", "lr": lr, "momentum": 0.0} for lr in (0.1, 0.5, 1.0, 1.9, 2.05)]),
    "Adam on Rastrigin": (
        {"surface": "rastrigin", "start_x": -4.3, "start_y": 3.7, "epochs": 300,
         "grad_noise": 0.0},
        [{"optimizer": "adam", "lr": lr, "momentum": 0.0} for lr in (0.05, 0.5, 2.0)]
        + [{"optimizer": "sgd", "lr": 0.002, "momentum": 0.9}]),
}
