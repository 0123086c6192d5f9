"""Small models really trained on the London test photos and exported, for the runtime tests.

``fes-train fit`` for a few steps at 64 px with narrow networks, then ``fes-train export``: real
weights from real pairs and a real model folder (manifest, ONNX, safetensors, auxiliaries). Too
short to look good; the runtime tests check which networks run and what they are given.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import LONDON

TINY = {
    "g2gan": ({"ngf": 8}, {}),
    "landmarkgan": ({"ngf": 8, "image_embedding": 32, "label_embedding": 8}, {"ndf": 8, "landmark_d_width": 16}),
    "tergan": (
        {"encoder_channels": [8, 8, 16, 16, 32], "decoder_channels": [16, 16, 8, 8]},
        {"pretrain_steps": 2},
    ),
}


def _value(value: object) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)


_TRAINED: dict[str, Path] = {}


def trained_model(family: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The model folder of ``family``, trained once per test session (see :func:`train_and_export`)."""
    if family not in _TRAINED:
        _TRAINED[family] = train_and_export(family, tmp_path_factory.mktemp(f"tiny-{family}"))
    return _TRAINED[family]


def train_and_export(family: str, folder: Path, steps: int = 6) -> Path:
    """Train ``family`` for ``steps`` steps (batch 4, 64 px) on tests/data/london; returns the model folder."""
    from training.config import load_config
    from training.export import export_checkpoint
    from training.trainer import fit

    architecture, loss = TINY[family]
    tables = {
        "architecture": architecture,
        "loss": loss,
        "data": {"kind": "london", "root": str(LONDON), "size": 64, "cache_dir": str(folder / "cache")},
        "features": {"perceptual": "none"},
        "schedule": {"steps": steps, "batch_size": 4, "device": "cpu", "checkpoint_every": steps,
                     "sample_every": steps, "log_every": steps},
    }
    lines = [f'name = "tiny-{family}"', f'family = "{family}"']
    for table, values in tables.items():
        lines += ["", f"[{table}]"] + [f"{k} = {_value(v)}" for k, v in values.items()]
    folder.mkdir(parents=True, exist_ok=True)
    config_path = folder / f"{family}.toml"
    config_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = fit(load_config(config_path), folder / "run", progress=False)
    assert result.checkpoint is not None, f"{family}: the run wrote no checkpoint"
    return export_checkpoint(result.checkpoint, folder / "model", version="0.0-test", licence="test only").folder
