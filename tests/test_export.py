"""Every download opens and says what the run did; the generated train.py replays the run exactly."""

from __future__ import annotations

import ast
import csv
import io
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image, ImageSequence

from playground import RunConfig, build, sprites, train
from playground.engine import Trainer
from playground.export import (
    GIF_MAX_FRAMES,
    animation_gif,
    bundle_zip,
    checkpoint_bytes,
    config_json,
    history_csv,
    run_bundle,
    run_files,
    sprite_png,
    tensorboard_available,
    tensorboard_log,
    tensorboard_zip,
    train_script,
)
from playground.history import COLUMNS, Table
from playground.lessons.generate import target_array
from playground.losses import LOSSES
from playground.models import MODELS
from playground.optim import OPTIMIZERS
from playground.schedules import SCHEDULES

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"size": 8}
NOISE = np.random.default_rng(7).integers(0, 256, (16, 16, 4), dtype=np.uint8)  # > 62 colours


def trained(cfg: RunConfig, steps: int) -> Trainer:
    """A trainer after `steps` optimizer steps."""
    trainer = Trainer(cfg)
    for _ in range(steps):
        trainer.step()
    return trainer


def frames_of(cfg: RunConfig, at: tuple[int, ...]) -> tuple[list[tuple[int, np.ndarray]], Trainer]:
    """(step, image) at the given steps, like the runner's filmstrip."""
    trainer = Trainer(cfg)
    frames = [(0, trainer.image())] if 0 in at else []
    while not trainer.done:
        row = trainer.step()
        if row is not None and row[0] in at:
            frames.append((row[0], trainer.image()))
    return frames, trainer


def expected_frame(arr: np.ndarray, scale: int) -> np.ndarray:
    """What a GIF frame shows above its caption: the sprite on a checkerboard, upscaled."""
    return sprites.upscale(sprites.checkerboard_composite(arr, cell=1), scale)


# CSV, JSON, PNG -------------------------------------------------------------------------------
def test_history_csv_round_trips_tables_and_dataframes_exactly() -> None:
    result = train(RunConfig(epochs=12, **SMALL))
    from_df = history_csv(result.history)
    from_rows = history_csv(result.rows)
    assert from_df == from_rows
    back = pd.read_csv(io.BytesIO(from_df))
    assert tuple(back.columns) == COLUMNS
    assert back["step"].tolist() == list(range(1, 13))
    np.testing.assert_array_equal(back["loss"].to_numpy(), result.history["loss"].to_numpy())
    assert back["update_ratio"].isna().sum() == 11  # measured every 10th step only
    assert history_csv(Table(COLUMNS)).decode().strip() == ",".join(COLUMNS)


def test_config_json_reloads_to_the_same_config_custom_sprite_included() -> None:
    cfg = RunConfig(sprite="custom", pixels=sprites.encode_sprite(NOISE), size=16, lr=0.003,
                    betas=(0.8, 0.99), schedule="onecycle")
    data = config_json(cfg)
    assert json.loads(data)["betas"] == [0.8, 0.99]
    assert RunConfig.from_json(data.decode()) == cfg


@pytest.mark.parametrize("scale", [1, 3, 8])
def test_sprite_png_keeps_exact_pixels_and_upscales_crisply(scale: int) -> None:
    png = sprite_png(NOISE, scale)
    img = Image.open(io.BytesIO(png))
    assert img.format == "PNG" and img.mode == "RGBA" and img.size == (16 * scale, 16 * scale)
    got = np.asarray(img)
    np.testing.assert_array_equal(got[::scale, ::scale], NOISE)
    np.testing.assert_array_equal(got, NOISE.repeat(scale, 0).repeat(scale, 1))


def test_sprite_png_refuses_a_bad_scale_or_array() -> None:
    with pytest.raises(sprites.SpriteError):
        sprite_png(NOISE, 0)
    with pytest.raises(sprites.SpriteError):
        sprite_png(NOISE.astype(np.float32))


# GIF ------------------------------------------------------------------------------------------
def test_gif_shows_each_frame_with_exact_colours_and_holds_the_last() -> None:
    # 8 px: 64 pixels on two checkerboard shades fit a GIF's 256-colour palette whatever the model
    frames, trainer = frames_of(RunConfig(sprite="mushroom", model="mlp", epochs=30, size=8),
                               (0, 1, 3, 10, 30))
    gif = animation_gif(frames, scale=8, frame_ms=100, final_ms=1500)
    img = Image.open(io.BytesIO(gif))
    assert img.format == "GIF" and img.info["loop"] == 0 and img.n_frames == 5
    assert img.size == (64, 64 + 14)  # the sprite, then a caption strip
    durations = []
    for (step, arr), frame in zip(frames, ImageSequence.Iterator(img), strict=True):
        rgb = np.asarray(frame.convert("RGB"))
        np.testing.assert_array_equal(rgb[:64], expected_frame(arr, 8), err_msg=f"step {step}")
        assert (rgb[64:] < 100).any(), "the caption has dark text"
        durations.append(frame.info["duration"])
    assert durations == [100, 100, 100, 100, 1500]
    np.testing.assert_array_equal(frames[-1][1], trainer.image())


def test_gif_sorts_frames_and_thins_long_runs_keeping_first_and_last() -> None:
    rng = np.random.default_rng(1)
    frames = [(s, rng.integers(0, 256, (4, 4, 4), dtype=np.uint8)) for s in range(300)]
    gif = animation_gif(list(reversed(frames)), scale=2, label=False)
    img = Image.open(io.BytesIO(gif))
    assert img.n_frames == GIF_MAX_FRAMES
    img.seek(0)
    np.testing.assert_array_equal(np.asarray(img.convert("RGB")), expected_frame(frames[0][1], 2))
    img.seek(img.n_frames - 1)
    np.testing.assert_array_equal(np.asarray(img.convert("RGB")), expected_frame(frames[-1][1], 2))


def test_gif_of_a_colourful_sprite_is_close_where_256_colours_cannot_be_exact() -> None:
    noise = np.random.default_rng(2).integers(0, 256, (32, 32, 4), dtype=np.uint8)
    noise[..., 3] = 255
    img = Image.open(io.BytesIO(animation_gif([(5, noise)], scale=1, label=False)))
    got = np.asarray(img.convert("RGB")).astype(int)
    assert np.abs(got - noise[..., :3]).mean() < 12


def test_gif_needs_a_frame() -> None:
    with pytest.raises(ValueError, match="at least one frame"):
        animation_gif([])


# Checkpoint -----------------------------------------------------------------------------------
def test_checkpoint_loads_weights_only_and_restores_model_and_optimizer() -> None:
    cfg = RunConfig(epochs=20, **SMALL)
    trainer = trained(cfg, 7)
    state = torch.load(io.BytesIO(checkpoint_bytes(trainer)), weights_only=True)
    assert set(state) == {"model", "optimizer", "config"}
    assert RunConfig.from_dict(state["config"]) == cfg
    fresh = build(cfg)
    assert not np.array_equal(sprites.from_tensor(fresh.model.image()), trainer.image())
    fresh.model.load_state_dict(state["model"])
    fresh.optimizer.load_state_dict(state["optimizer"])
    assert fresh.optimizer.state_dict()["state"][0]["step"] == 7
    np.testing.assert_array_equal(sprites.from_tensor(fresh.model.image().clamp(0, 1)),
                                  trainer.image())


def test_checkpoint_from_built_or_model_and_refuses_anything_else() -> None:
    cfg = RunConfig(model="pixels", **SMALL)
    b = build(cfg)
    from_built = torch.load(io.BytesIO(checkpoint_bytes(b)), weights_only=True)
    assert from_built["config"] == cfg.to_dict() and from_built["optimizer"] is not None
    bare = torch.load(io.BytesIO(checkpoint_bytes(b.model)), weights_only=True)
    assert bare["optimizer"] is None and bare["config"] is None
    assert torch.equal(bare["model"]["canvas"], b.model.canvas.detach())
    with pytest.raises(TypeError, match="Trainer, a Built or an nn.Module"):
        checkpoint_bytes("model.pt")


# TensorBoard ----------------------------------------------------------------------------------
def test_tensorboard_is_none_without_the_package(monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import now fails
    rows = train(RunConfig(epochs=3, **SMALL)).history
    assert tensorboard_log(rows, tmp_path / "tb") is None
    assert tensorboard_zip(rows) is None
    assert not (tmp_path / "tb").exists()


def test_tensorboard_available_says_whether_a_log_can_be_written(tmp_path: Path) -> None:
    rows = train(RunConfig(epochs=2, **SMALL)).history
    assert tensorboard_available() == (tensorboard_log(rows, tmp_path / "tb") is not None)


def test_tensorboard_log_holds_loss_lr_and_grad_norm_per_step(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    history = train(RunConfig(epochs=12, schedule="cosine", **SMALL)).history
    path = tensorboard_log(history, tmp_path / "tb")
    assert path is not None and path.parent == tmp_path / "tb"
    acc = EventAccumulator(str(path))
    acc.Reload()
    assert {"loss/train_step", "lr", "grad_norm"} <= set(acc.Tags()["scalars"])
    for column, tag in (("loss", "loss/train_step"), ("lr", "lr"), ("grad_norm", "grad_norm")):
        events = acc.Scalars(tag)
        assert [e.step for e in events] == history["step"].tolist()
        np.testing.assert_allclose([e.value for e in events], history[column], rtol=1e-6)
    names = zipfile.ZipFile(io.BytesIO(tensorboard_zip(history, "heart"))).namelist()
    assert len(names) == 1 and names[0].startswith("heart/events.out.tfevents.")


def test_tensorboard_log_of_a_classify_run_holds_its_validation_metrics(tmp_path: Path) -> None:
    """The classify lesson's export once crashed on its extra columns; now they are logged."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    result = train(RunConfig(task="classify", samples=80, epochs=3, patience=0))
    acc = EventAccumulator(str(tensorboard_log(result.rows, tmp_path / "tb")))
    acc.Reload()
    ends = result.history.dropna(subset=["val_accuracy"])
    events = acc.Scalars("accuracy/validation")
    assert [e.step for e in events] == ends["step"].tolist()
    np.testing.assert_allclose([e.value for e in events], ends["val_accuracy"], rtol=1e-6)
    assert {"loss/validation", "loss/train_epoch", "accuracy/train"} <= set(acc.Tags()["scalars"])


# The zip --------------------------------------------------------------------------------------
def test_bundle_zip_is_deterministic_and_lossless() -> None:
    parts = {"a.txt": b"hello", "dir/b.bin": bytes(range(256)) * 10}
    data = bundle_zip(parts)
    assert data == bundle_zip(dict(parts))
    zf = zipfile.ZipFile(io.BytesIO(data))
    assert zf.testzip() is None
    assert {n: zf.read(n) for n in zf.namelist()} == parts


def test_run_bundle_holds_every_download_and_each_one_opens() -> None:
    cfg = RunConfig(sprite="ghost", epochs=10, **SMALL)
    frames, trainer = frames_of(cfg, (0, 1, 3, 10))
    result = trainer.result()
    target = sprites.from_tensor(trainer.b.target)
    data = run_bundle(cfg, target, result.history, result.image, frames, checkpoint_bytes(trainer),
                      result.summary())
    zf = zipfile.ZipFile(io.BytesIO(data))
    assert zf.namelist() == ["history.csv", "config.json", "final.png", "final_x8.png",
                             "target.png", "forming.gif", "checkpoint.pt", "train.py", "README.txt"]
    assert len(pd.read_csv(zf.open("history.csv"))) == 10
    assert RunConfig.from_json(zf.read("config.json").decode()) == cfg
    np.testing.assert_array_equal(np.asarray(Image.open(zf.open("final.png"))), result.image)
    assert Image.open(zf.open("final_x8.png")).size == (64, 64)
    np.testing.assert_array_equal(np.asarray(Image.open(zf.open("target.png"))), target)
    assert Image.open(zf.open("forming.gif")).n_frames == 4
    state = torch.load(io.BytesIO(zf.read("checkpoint.pt")), weights_only=True)
    assert state["config"]["sprite"] == "ghost"
    ast.parse(zf.read("train.py").decode())
    readme = zf.read("README.txt").decode()
    for name in zf.namelist()[:-1]:
        assert name in readme, name
    assert "python train.py --steps" in readme and "status: completed" in readme


def test_run_files_without_frames_or_checkpoint_still_make_a_gif_and_say_why() -> None:
    cfg = RunConfig(epochs=3, **SMALL)
    result = train(cfg)
    parts = run_files(cfg, target_array(cfg), result.history, result.image)
    assert "checkpoint.pt" not in parts
    assert "no checkpoint.pt" in parts["README.txt"].decode()
    gif = Image.open(io.BytesIO(parts["forming.gif"]))
    assert gif.n_frames == 1


# train.py: generated, standalone, readable ----------------------------------------------------
def single_choice_configs() -> list[RunConfig]:
    """One config per model, loss, optimizer and schedule (each with its own generated code)."""
    out = [RunConfig(model=m, **SMALL) for m in MODELS]
    out += [RunConfig(loss=n, **SMALL) for n in LOSSES]
    out += [RunConfig(optimizer=o, **SMALL) for o in OPTIMIZERS]
    out += [RunConfig(schedule=s, **SMALL) for s in SCHEDULES]
    return [*out, RunConfig(schedule="warmup_cosine", warmup=0, patience=5, clip_grad_norm=1.0,
                            model="coord", activation="sine", **SMALL)]


ALLOWED_IMPORTS = {"__future__", "argparse", "base64", "json", "math", "struct", "sys", "zlib",
                   "collections.abc", "pathlib", "types", "typing", "torch", "torch.optim", "tqdm",
                   "yaml"}


@pytest.mark.parametrize("cfg", single_choice_configs(), ids=lambda c: f"{c.model}-{c.loss}-"
                         f"{c.optimizer}-{c.schedule}{'-w0' if c.warmup == 0 else ''}")
def test_train_script_needs_only_torch_and_the_standard_library(cfg: RunConfig) -> None:
    code = train_script(cfg, target_array(cfg))
    tree = ast.parse(code)
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imported <= ALLOWED_IMPORTS, imported - ALLOWED_IMPORTS
    assert "playground" not in imported and "numpy" not in imported
    assert f"model = seed_weights({MODELS[cfg.model].make.__name__}(cfg), cfg.seed)" in code
    for word in ("optimizer.zero_grad", "loss.backward()", "optimizer.step(", "for epoch in range",
                 "for x, y in loader:", "progress_bar(", "losses.csv", "final.png"):
        assert word in code, word


def test_train_script_refuses_a_target_of_the_wrong_size() -> None:
    with pytest.raises(ValueError, match=r"uint8 \(8, 8, 4\)"):
        train_script(RunConfig(**SMALL), NOISE)


def test_train_script_of_a_sprite_run_needs_its_target() -> None:
    with pytest.raises(ValueError, match="needs its target sprite"):
        train_script(RunConfig(**SMALL))


def test_train_script_embeds_a_readable_sprite_or_compressed_bytes() -> None:
    heart = RunConfig(size=16)
    code = train_script(heart, target_array(heart))
    assert "PALETTE = {" in code and '"..aaaa....aaaa..",' in code
    noisy = RunConfig(sprite="custom", pixels=sprites.encode_sprite(NOISE), size=16)
    code = train_script(noisy, NOISE)
    assert "SPRITE_RGBA = (" in code and "PALETTE" not in code


def test_train_script_is_ruff_clean_under_the_project_rules(tmp_path: Path) -> None:
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (pip install -r requirements-dev.txt)")
    for i, cfg in enumerate(single_choice_configs()):
        (tmp_path / f"train_{i}.py").write_text(train_script(cfg, target_array(cfg)))
    done = subprocess.run([ruff, "check", "--no-cache", "--config", str(ROOT / "pyproject.toml"),
                           str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


# train.py: runs as generated and replays the app's run step for step ---------------------------
# Each case: (config, train.py arguments). One subprocess runs them all (torch imports once),
# in isolated mode (-I) with `playground` made unimportable, so a script that leaned on the app fails.
REPLAYS: dict[str, tuple[dict, list[str]]] = {
    "pixels-sgd-nesterov-step": (dict(model="pixels", optimizer="sgd", lr=0.5, momentum=0.9,
                                      nesterov=True, schedule="step", step_size=3, epochs=12), []),
    "mlp-adam-cosine-clip": (dict(model="mlp", schedule="cosine", clip_grad_norm=0.05, epochs=12),
                             ["--steps", "7"]),
    "coord-lbfgs-warmup-cosine": (dict(model="coord", optimizer="lbfgs", lr=0.5, batch_size=16,
                                       schedule="warmup_cosine", warmup=3, epochs=3), []),
    "conv-rmsprop-onecycle-huber": (dict(model="conv", optimizer="rmsprop", momentum=0.5,
                                         schedule="onecycle", loss="huber", epochs=8), []),
    "coord-sine-bce-adamw-exponential": (dict(model="coord", activation="sine", loss="bce",
                                              optimizer="adamw", weight_decay=0.1, batch_size=24,
                                              schedule="exponential", step_size=2, epochs=4), []),
    "pixels-plateau": (dict(model="pixels", optimizer="sgd", lr=1e-6, schedule="plateau",
                            step_size=1, gamma=0.5, epochs=8), []),
    "conv-nadam-warmup0-l1": (dict(model="conv", optimizer="nadam", schedule="warmup_cosine",
                                   warmup=0, loss="l1", epochs=6), []),
    "early-stopping": (dict(model="pixels", optimizer="sgd", lr=1e-6, patience=2, min_delta=0.1,
                            epochs=50), []),
    "diverges": (dict(model="pixels", optimizer="sgd", lr=500.0, epochs=50), []),
    "colourful-cyclic-no-tqdm": (dict(model="mlp", optimizer="radam", schedule="cyclic",
                                      step_size=2, sprite="custom", size=16,
                                      pixels=sprites.encode_sprite(NOISE), epochs=6),
                                 ["--steps", "5", "--print-every", "2"]),
}
NO_TQDM = {"colourful-cyclic-no-tqdm"}

DRIVER = '''
import contextlib, io, json, os, runpy, sys
sys.modules["playground"] = None  # the scripts must not need the app
for folder, args, block_tqdm in json.loads(sys.argv[1]):
    os.chdir(folder)
    if block_tqdm:
        sys.modules["tqdm"] = None
    else:
        sys.modules.pop("tqdm", None)
    sys.argv = ["train.py", *args]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        runpy.run_path("train.py", run_name="__main__")
    with open("stdout.txt", "w") as f:
        f.write(out.getvalue())
'''


def replay_config(name: str) -> RunConfig:
    kw = dict(REPLAYS[name][0])
    kw.setdefault("size", 8)
    return RunConfig(**kw)


@pytest.fixture(scope="module")
def replays(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Generate every case's train.py and run them all in one isolated Python subprocess."""
    root = tmp_path_factory.mktemp("replays")
    jobs = []
    for name, (_, args) in REPLAYS.items():
        cfg = replay_config(name)
        folder = root / name
        folder.mkdir()
        (folder / "train.py").write_text(train_script(cfg, target_array(cfg)))
        jobs.append([str(folder), args, name in NO_TQDM])
    (root / "driver.py").write_text(DRIVER)
    done = subprocess.run([sys.executable, "-I", str(root / "driver.py"), json.dumps(jobs)],
                          cwd=root, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return {name: root / name for name in REPLAYS}


def read_losses(folder: Path) -> pd.DataFrame:
    with (folder / "losses.csv").open() as f:
        rows = list(csv.DictReader(f))
    return pd.DataFrame({"step": [int(r["step"]) for r in rows],
                         "epoch": [int(r["epoch"]) for r in rows],
                         "loss": [float(r["loss"]) for r in rows],
                         "lr": [float(r["lr"]) for r in rows]})


@pytest.mark.parametrize("name", list(REPLAYS))
def test_train_script_losses_match_the_apps_run(replays: dict[str, Path], name: str) -> None:
    cfg, args = replay_config(name), REPLAYS[name][1]
    app = train(cfg).history
    got = read_losses(replays[name])
    steps = int(args[args.index("--steps") + 1]) if "--steps" in args else len(app)
    assert 0 < len(got) == min(steps, len(app)) <= len(app)
    app = app.iloc[:len(got)]
    assert got["step"].tolist() == app["step"].tolist()
    assert got["epoch"].tolist() == app["epoch"].tolist()
    np.testing.assert_allclose(got["loss"], app["loss"], rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(got["lr"], app["lr"], rtol=1e-9)


@pytest.mark.parametrize("name", [n for n, (_, a) in REPLAYS.items() if "--steps" not in a])
def test_train_script_ends_like_the_app_with_the_same_picture(replays: dict[str, Path],
                                                              name: str) -> None:
    result = train(replay_config(name))
    stdout = (replays[name] / "stdout.txt").read_text()
    last = stdout.strip().splitlines()[-1]
    assert last.startswith(result.status.replace("_", " ")), last
    assert f": {result.steps} steps" in last
    final = np.asarray(Image.open(replays[name] / "final.png"))
    assert final.shape == result.image.shape and final.dtype == np.uint8
    assert np.abs(final.astype(int) - result.image).max() <= 1


def test_the_replays_exercise_what_they_claim(replays: dict[str, Path]) -> None:
    """Guard the cases themselves: clipping clips, the plateau cuts the LR, runs end as named."""
    clip = train(replay_config("mlp-adam-cosine-clip")).history
    assert (clip["grad_norm"].iloc[:7] > 0.05).any()
    assert read_losses(replays["pixels-plateau"])["lr"].nunique() > 1
    assert train(replay_config("early-stopping")).status == "early_stopped"
    diverged = train(replay_config("diverges"))
    assert diverged.status == "diverged"
    wild = trained(replay_config("diverges"), diverged.steps - 1).image()  # the last update made
    assert not np.array_equal(np.asarray(Image.open(replays["diverges"] / "final.png")), wild)
    assert "SPRITE_RGBA" in (replays["colourful-cyclic-no-tqdm"] / "train.py").read_text()


def test_train_script_without_tqdm_prints_the_loss_lines(replays: dict[str, Path]) -> None:
    lines = (replays["colourful-cyclic-no-tqdm"] / "stdout.txt").read_text().splitlines()
    assert [line.split()[1] for line in lines if line.startswith("step")] == ["2/5", "4/5", "5/5"]
    assert lines[-1].startswith("stopped after 5 steps")
