"""Experiment TOML -> frozen dataclasses, the resolved config written back, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.config import ConfigError, load_config, to_toml

CONFIGS = Path(__file__).resolve().parents[2] / "training" / "configs"


@pytest.mark.parametrize("name", ["lgan", "g2gan", "unet_cgan", "tergan", "landmarkgan"])
def test_shipped_configs_load_with_paper_settings(name):
    config = load_config(CONFIGS / f"{name}.toml")
    assert config.family == name
    assert config.data.kind == "london" and config.architecture.image_size == config.data.size == 128
    assert (config.loss.lr, config.loss.beta1, config.loss.beta2) == (2e-4, 0.5, 0.999)


def test_resolved_config_round_trips(tmp_path):
    config = load_config(CONFIGS / "tergan.toml")
    saved = tmp_path / "config.toml"
    saved.write_text(to_toml(config))
    assert load_config(saved) == config


def _write(tmp_path, text):
    path = tmp_path / "exp.toml"
    path.write_text(text)
    return path


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(ConfigError, match="unknown keys \\['stepz'\\]"):
        load_config(_write(tmp_path, 'family = "lgan"\n[schedule]\nstepz = 3\n'))
    with pytest.raises(ConfigError, match="schedule.steps: expected int"):
        load_config(_write(tmp_path, 'family = "lgan"\n[schedule]\nsteps = "many"\n'))
    with pytest.raises(ConfigError, match="unknown family|unknown generator family"):
        load_config(_write(tmp_path, 'family = "stylegan"\n'))
    with pytest.raises(ConfigError, match="differs from data.size"):
        load_config(_write(tmp_path, 'family = "lgan"\n[architecture]\nimage_size = 64\n[data]\nsize = 128\n'))
    with pytest.raises(ConfigError, match="lr is set in both"):
        load_config(_write(tmp_path, 'family = "lgan"\n[schedule]\nlr = 1e-3\n[loss]\nlr = 2e-4\n'))
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(_write(tmp_path, 'family = "lgan\n'))
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.toml")


def test_relative_paths_are_relative_to_the_config(tmp_path):
    config = load_config(_write(tmp_path, 'family = "lgan"\n[data]\nroot = "photos"\nsize = 64\n'))
    assert config.data.root == str((tmp_path / "photos").resolve())
    assert config.architecture.image_size == 64


def test_decay_from_must_lie_inside_the_schedule(tmp_path):
    with pytest.raises(ConfigError, match="decay_from must lie in"):
        load_config(_write(tmp_path, 'family = "lgan"\n[schedule]\nsteps = 10\ndecay_from = 10\n'))
    config = load_config(_write(tmp_path, 'family = "lgan"\n[schedule]\nsteps = 10\ndecay_from = 6\n'))
    assert config.schedule.decay_from == 6
