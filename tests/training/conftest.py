"""Fixtures for the training tests: the real London photos of tests/data, tiny configs, a tiny run.

Runs here are small on purpose (crops of 32-64 px, a few steps, narrow networks) so the suite stays
quick on a CPU; they exercise the real engine preprocessing, the real families and real weights.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import LONDON

TINY_ARCHITECTURE = {
    "lgan": {"ngf": 8, "n_blocks": 1},
    "landmarkgan": {"ngf": 8, "image_embedding": 32, "label_embedding": 8},
    "warpguided": {"ngf": 8, "num_downs": 6},
}
TINY_LOSS = {"lgan": {}, "landmarkgan": {"ndf": 8, "landmark_d_width": 16}, "warpguided": {"ndf": 8}}


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)


def write_config(path: Path, family: str, cache: Path, *, size: int = 32, steps: int = 2, batch_size: int = 1,
                 root: Path = LONDON, perceptual: str = "none", every: int = 1,
                 architecture: dict[str, object] | None = None, **data: object) -> Path:
    """A tiny experiment TOML for ``family`` on the London test photos (``architecture`` entries
    override the tiny ones); returns its path."""
    tables = {
        "architecture": TINY_ARCHITECTURE[family] | (architecture or {}),
        "loss": TINY_LOSS[family],
        "data": {"kind": "london", "root": str(root), "size": size, "cache_dir": str(cache), **data},
        "features": {"perceptual": perceptual},
        "schedule": {"steps": steps, "batch_size": batch_size, "device": "cpu", "checkpoint_every": every,
                     "sample_every": every, "log_every": every},
    }
    lines = [f'name = "tiny-{family}"', f'family = "{family}"']
    for table, values in tables.items():
        lines += ["", f"[{table}]"] + [f"{k} = {_toml_value(v)}" for k, v in values.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def london_root() -> Path:
    """tests/data/london: 3 dev and the 16 held-out people of resources/splits/london.json."""
    return LONDON


@pytest.fixture(scope="session")
def preprocess_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One preprocessing cache for the whole session (each photo goes through FaceMesh once)."""
    return tmp_path_factory.mktemp("preprocess-cache")


@pytest.fixture(scope="session")
def landmarkgan_checkpoint(tmp_path_factory: pytest.TempPathFactory, preprocess_cache: Path) -> Path:
    """A 2-step LandmarkGAN run at 64 px (generator + the auxiliary stage-I network)."""
    from training.config import load_config
    from training.trainer import fit

    folder = tmp_path_factory.mktemp("landmarkgan-run")
    config = load_config(write_config(folder / "tiny.toml", "landmarkgan", preprocess_cache, size=64))
    result = fit(config, folder / "run", progress=False)
    assert result.checkpoint is not None and result.checkpoint.is_file()
    return result.checkpoint


@pytest.fixture
def london_copy(tmp_path: Path, london_root: Path) -> Path:
    """A writable copy of the London test photos."""
    target = tmp_path / "london"
    shutil.copytree(london_root, target)
    return target
