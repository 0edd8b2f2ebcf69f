"""The Download this run panel: every file a run made, each generated only when its button is
clicked, in a lazy expander (drawn only when opened)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from playground import export
from playground.export.history_plot import history_png
from playground.serve import Runner, Snapshot
from playground.tasks import TASKS


def downloads(runner: Runner) -> None:
    """Everything a run made, generated only when its button is clicked."""
    snap = runner.snapshot(max_points=2)
    if snap.config is None or snap.n_rows == 0:
        return
    cfg = snap.config
    box = st.expander("⬇️ Download this run", key="downloads_open", on_change="rerun")
    if not box.open:  # drawn only when open: a dozen buttons less in every page run and redraw
        return
    with box:
        if TASKS[cfg.task].sprite and snap.image is not None:
            st.download_button("Download all (zip)", lambda: _bundle(runner),
                               f"pixel-playground-{cfg.sprite}.zip", "application/zip",
                               key="dl_all", type="primary",
                               help="History, config, pictures, the GIF, the checkpoint and a "
                                    "train.py that replays this run in plain PyTorch.")
        a, b, c, d = st.columns(4)
        a.download_button("history.csv", lambda: export.history_csv(runner.rows_since(0)),
                          "history.csv", "text/csv", key="dl_csv")
        a.download_button("config.json", export.config_json(cfg), "config.json",
                          "application/json", key="dl_json")
        d.download_button("checkpoint.pt", lambda: runner.checkpoint() or b"", "checkpoint.pt",
                          "application/octet-stream", key="dl_ckpt", disabled=runner.alive,
                          help="Weights and optimizer state (state dicts only). Stop the run, or "
                               "let it finish, to save it.")
        d.download_button("best.pt", lambda: runner.best_checkpoint() or b"", "best.pt",
                          "application/octet-stream", key="dl_best", disabled=runner.alive,
                          help="The best weights of the run (the lowest loss of the first and every "
                               "10th step, or the best validation epoch) with the history and "
                               "the metrics that made them best.")
        a.download_button("training_history.png", lambda: history_png(
            runner.rows_since(0), snap.events), "training_history.png", "image/png",
            key="dl_hist_png", help="The loss (and accuracy) charts as one picture.")
        if TASKS[cfg.task].sprite and snap.image is not None:
            _sprite_downloads(runner, snap, b, c)
        elif not TASKS[cfg.task].sprite:  # the lessons' script needs no picture
            _script_download(snap, c, lambda: export.train_script(cfg))
        if export.tensorboard_available():
            d.download_button("tensorboard.zip", lambda: export.tensorboard_zip(
                runner.rows_since(0), cfg.sprite) or b"", "tensorboard.zip", "application/zip",
                key="dl_tb")
        else:
            d.caption(export.TENSORBOARD_HINT)


def _sprite_downloads(runner: Runner, snap: Snapshot, b: Any, c: Any) -> None:
    """The picture downloads and the standalone script (sprite lesson)."""
    cfg, final = snap.config, snap.image
    b.download_button("final.png", export.sprite_png(final), "final.png", "image/png",
                      key="dl_png", help="Exact pixels.")
    b.download_button("final_x8.png", lambda: export.sprite_png(final, 8), "final_x8.png",
                      "image/png", key="dl_png8")
    c.download_button("forming.gif", lambda: export.animation_gif(runner.frames() or
                                                                  snap.filmstrip),
                      "forming.gif", "image/gif", key="dl_gif")
    _script_download(snap, c, lambda: export.train_script(cfg, snap.target))


def _script_download(snap: Snapshot, column: Any, make: Callable[[], str]) -> None:
    """train.py: the standalone script that replays this run (made only when clicked)."""
    column.download_button("train.py", make, "train.py", "text/x-python", key="dl_train",
                           help="The textbook PyTorch loop that reproduces this run, step for step.")
    if any(kind == "lr" for _, kind, _ in snap.events):
        st.caption("train.py replays the settings, not the learning-rate changes made mid-run.")


def _bundle(runner: Runner) -> bytes:
    """The "Download all" zip."""
    snap, rows = runner.snapshot(max_points=2), runner.rows_since(0)
    summary = {"status": snap.state, "steps": snap.n_rows,
               "final_loss": float(rows["loss"][-1]) if len(rows) else None}
    return export.run_bundle(snap.config, snap.target, rows, snap.image,
                             runner.frames() or snap.filmstrip, runner.checkpoint(), summary)
