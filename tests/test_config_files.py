"""Config files as the course writes them: YAML or JSON, flat or in the seed's nested shape; what
cannot be understood is refused with one sentence that names the keys to use."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from playground.cli import main
from playground.config import ConfigError, RunConfig
from playground.config_files import NESTED, read_config

SEED_YAML = """\
# the course's config.yaml
training:
  batch_size: 64
  epochs: 30
  learning_rate: 0.003
  weight_decay: 0.0001
  scheduler:
    type: step
    step_size: 10
    gamma: 0.5
model:
  name: coord
data:
  sprite: heart
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_flat_yaml_file_reads_as_the_same_json_file(tmp_path: Path) -> None:
    cfg = RunConfig(model="mlp", optimizer="sgd", lr=0.05, betas=(0.8, 0.99), epochs=12)
    as_json = write(tmp_path, "c.json", cfg.to_json())
    as_yaml = write(tmp_path, "c.yaml", "\n".join(f"{k}: {json.dumps(v)}"
                                                  for k, v in cfg.to_dict().items()))
    assert read_config(as_json) == cfg
    assert read_config(as_yaml) == cfg


def test_the_seeds_nested_shape_becomes_flat_keys(tmp_path: Path) -> None:
    cfg = read_config(write(tmp_path, "config.yaml", SEED_YAML))
    assert (cfg.batch_size, cfg.epochs, cfg.lr, cfg.weight_decay) == (64, 30, 0.003, 0.0001)
    assert (cfg.schedule, cfg.step_size, cfg.gamma) == ("step", 10, 0.5)
    assert (cfg.model, cfg.sprite) == ("coord", "heart")
    assert read_config(write(tmp_path, "c.yml", "training:\n  scheduler: cosine\n")).schedule == "cosine"


@pytest.mark.parametrize(("text", "says"), [
    ("training:\n  lr_decay: 0.9\n", "'training.lr_decay' is not understood; the flat keys are"),
    ("optim:\n  lr: 0.1\n", "unknown section 'optim'"),
    ("training:\n  scheduler:\n    kind: step\n", "'training.scheduler.kind' is not understood"),
    ("lr: 0.1\ntraining:\n  learning_rate: 0.2\n", "'lr' is given twice"),
    ("lr: [1, 2\n", "config file is not valid YAML"),
    ("- lr\n- 0.1\n", "must hold a YAML mapping"),
    ("lr: !!python/object/apply:os.system ['echo unsafe']\n", "not valid YAML"),
    ("training:\n  learning_rate: 0\n", "lr: 0"),
])
def test_what_cannot_be_understood_is_refused_with_the_keys_to_use(tmp_path: Path, text: str,
                                                                   says: str) -> None:
    with pytest.raises(ConfigError) as err:
        read_config(write(tmp_path, "bad.yaml", text))
    assert says in str(err.value)


def test_every_nested_key_maps_to_a_real_setting() -> None:
    from playground.config import FIELDS

    for section, keys in NESTED.items():
        assert set(keys.values()) <= {*FIELDS, "device"}, section  # device: the machine's


def test_the_cli_trains_from_the_seeds_yaml(tmp_path: Path) -> None:
    config = write(tmp_path, "config.yaml", SEED_YAML.replace("epochs: 30", "epochs: 3"))
    assert main(["train", "--config", str(config), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    ran = RunConfig.from_json((tmp_path / "run" / "config.json").read_text())
    assert (ran.lr, ran.schedule, ran.model, ran.epochs) == (0.003, "step", "coord", 3)


def test_a_bad_yaml_config_exits_2_with_one_line(tmp_path: Path, capsys) -> None:
    config = write(tmp_path, "config.yaml", "training:\n  lr_decay: 0.9\n")
    assert main(["train", "--config", str(config), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "training.lr_decay" in err[0]


def test_a_config_file_may_name_the_device_which_is_the_machines_not_the_runs(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from playground.config_files import read_config_file

    path = tmp_path / "config.yaml"
    path.write_text(SEED_YAML.replace("  epochs: 30\n", "  epochs: 2\n  device: cpu\n"))
    cfg, device = read_config_file(path)
    assert device == "cpu" and cfg.epochs == 2 and "device" not in cfg.to_dict()
    assert main(["train", "--config", str(path), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    assert "steps on cpu" in capsys.readouterr().err
    path.write_text("device: tpu\nepochs: 2\n")
    assert main(["train", "--config", str(path), "--out", str(tmp_path / "run"), "--quiet"]) == 2
    assert "device: 'tpu' is not allowed" in capsys.readouterr().err
