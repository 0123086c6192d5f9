"""The distilled identity network (training.identity_net): the shipped weights tell held-out people
apart on real photos and follow dlib, gradients reach the image, configs accept the folder, and a
tiny ``distill`` run writes a folder that loads."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engine.geometry.conditions import to_unit_range
from engine.synthesis.photo_generators import available_models
from training.base import FeatureNets
from training.config import ConfigError, load_config
from training.data.adapters import make_adapter
from training.data.pairs import LONDON_SPLIT, load_split_file
from training.data.preprocess import Prepared, preprocess
from training.features import build_feature_nets
from training.identity_net import (
    DEFAULT_FOLDER,
    MANIFEST_NAME,
    WEIGHTS_NAME,
    IdentityManifest,
    equivalent_threshold,
    load_distilled,
    pair_distances,
    ranking_auc,
    same_pairs,
)
from training.metrics import DlibIdentity

CPU = torch.device("cpu")
CROP = 128  # the families' default crop size


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def held_out(london_root: Path, preprocess_cache: Path) -> list[Prepared]:
    """The 16 held-out people's neutral and smiling photos, aligned at 128 px by the engine."""
    people = load_split_file(LONDON_SPLIT).held_out
    samples = [s for s in make_adapter("london", london_root).samples() if s.person in people]
    items, _ = preprocess(samples, london_root, CROP, preprocess_cache)
    assert len(items) == 32
    return items


@pytest.fixture(scope="module")
def net() -> torch.nn.Module:
    return load_distilled(DEFAULT_FOLDER)


def _tensor(images: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack([to_unit_range(im) for im in images]))


@torch.no_grad()
def _embed(net: torch.nn.Module, images: list[np.ndarray]) -> np.ndarray:
    return net(_tensor(images)).double().numpy()


def test_shipped_folder_is_small_and_not_a_generator() -> None:
    manifest = IdentityManifest.read(DEFAULT_FOLDER)
    assert (manifest.dim, manifest.input_size) == (128, 112)
    assert (DEFAULT_FOLDER / WEIGHTS_NAME).stat().st_size <= 5_000_000
    assert not (DEFAULT_FOLDER / "manifest.json").exists()
    assert "identity-distilled" not in available_models()  # engine lists generator folders only
    assert set(manifest.heldout["people"]["ids"]) == set(load_split_file(LONDON_SPLIT).held_out)


def test_same_person_pairs_rank_closer_on_held_out_photos(net: torch.nn.Module, held_out: list[Prepared]) -> None:
    """Neutral photos against mirrored, greyscale smiles of the held-out people (never fitted):
    the same person is closer than another far more often than chance (AUC 0.5, rank-1 1/16;
    the shipped weights score 0.996 and 15/16)."""
    neutral = [p for p in held_out if p.sample.expression == "neutral"]
    smiles = {p.sample.person: p for p in held_out if p.sample.expression == "happy"}
    grey = [np.repeat(smiles[p.sample.person].image[:, ::-1].mean(axis=2, keepdims=True), 3, axis=2).astype(np.uint8)
            for p in neutral]
    a, b = _embed(net, [p.image for p in neutral]), _embed(net, grey)
    distances = np.linalg.norm(a[:, None] - b[None], axis=2)  # (16, 16): neutral i vs smile j
    same = np.eye(len(neutral), dtype=bool)
    assert ranking_auc(distances.ravel(), same.ravel()) > 0.95
    assert np.mean(distances.argmin(axis=1) == np.arange(len(neutral))) >= 0.75


def test_distances_follow_dlib_on_held_out_photos(net: torch.nn.Module, held_out: list[Prepared]) -> None:
    dlib = DlibIdentity()
    teacher = np.stack([dlib.descriptor(p.image, p.landmarks) for p in held_out])
    student = _embed(net, [p.image for p in held_out])
    d_student, d_teacher = pair_distances(student), pair_distances(teacher)
    assert np.corrcoef(d_student, d_teacher)[0, 1] > 0.65
    assert ranking_auc(d_student, same_pairs([p.sample.person for p in held_out])) > 0.9


@pytest.mark.parametrize("size", [64, 128])
def test_gradients_reach_the_image_not_the_weights(net: torch.nn.Module, held_out: list[Prepared], size: int) -> None:
    images = _tensor([p.image for p in held_out[:4]])
    fake = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False).requires_grad_(True)
    real = torch.flip(fake.detach(), dims=[0])
    loss = F.l1_loss(net(fake), net(real).detach())  # G2-GAN's L_ip form
    loss.backward()
    assert fake.grad is not None and torch.isfinite(fake.grad).all() and fake.grad.abs().sum() > 0
    assert all(not p.requires_grad and p.grad is None for p in net.parameters())


def _g2gan_toml(path: Path, identity: str, extra: str = "") -> Path:
    path.write_text(
        'name = "id"\nfamily = "g2gan"\n[architecture]\nngf = 8\n[data]\nsize = 64\n'
        f'[features]\nperceptual = "none"\nidentity_weights = "{identity}"\n{extra}', encoding="utf-8")
    return path


def test_config_takes_the_folder_and_g2gan_uses_it(tmp_path: Path) -> None:
    from tests.training.pairs_1to3 import london_batch
    from training.families.g2gan import G2ganTraining

    config = load_config(_g2gan_toml(tmp_path / "id.toml", str(DEFAULT_FOLDER)))
    assert Path(config.features.identity_weights) == DEFAULT_FOLDER / WEIGHTS_NAME
    assert config.features.identity_input_size == 112
    f = config.features
    features = build_feature_nets(f.perceptual, CPU, None, f.identity_weights, f.identity_input_size)
    assert isinstance(features, FeatureNets) and features.identity is not None
    torch.manual_seed(0)
    model = G2ganTraining(config.architecture, config.loss, features, CPU)
    model.set_input(london_batch(64))
    losses = model.optimize_parameters()
    assert losses["w_identity"] == pytest.approx(0.1) and losses["G_identity"] > 0.0


def test_config_rejects_a_wrong_size_or_a_damaged_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="differs"):
        load_config(_g2gan_toml(tmp_path / "size.toml", str(DEFAULT_FOLDER), "identity_input_size = 128\n"))
    damaged = tmp_path / "damaged"
    shutil.copytree(DEFAULT_FOLDER, damaged)
    with open(damaged / WEIGHTS_NAME, "r+b") as handle:
        handle.seek(-4, 2)
        handle.write(b"\x00\x01\x02\x03")
    with pytest.raises(ConfigError, match="checksum"):
        load_config(_g2gan_toml(tmp_path / "damaged.toml", str(damaged)))
    (damaged / MANIFEST_NAME).unlink()
    with pytest.raises(ConfigError, match="not a distilled identity folder"):
        load_config(_g2gan_toml(tmp_path / "bare.toml", str(damaged)))


def test_ranking_auc_and_threshold_on_known_values() -> None:
    assert ranking_auc(np.array([0.1, 0.2, 0.3, 0.4]), np.array([True, True, False, False])) == 1.0
    assert ranking_auc(np.array([0.3, 0.4, 0.1, 0.2]), np.array([True, True, False, False])) == 0.0
    assert ranking_auc(np.array([0.5, 0.5]), np.array([True, False])) == 0.5
    angles = np.linspace(0.0, 1.0, 200)  # points on an arc: pair distances fill 0..0.96 densely
    unit = np.zeros((200, 128))
    unit[:, 0], unit[:, 1] = np.cos(angles), np.sin(angles)
    assert equivalent_threshold(2.0 * unit) == pytest.approx(0.3, abs=0.01)  # raw 0.6 at norm 2


def test_tiny_distill_run_writes_a_loadable_folder(tmp_path: Path, london_root: Path) -> None:
    from training.identity_distill import distill

    manifest = distill(tmp_path / "out", london_root, minutes=1.0, views=12, eval_views=1, batch_size=4,
                       cache_dir=str(tmp_path / "cache"), max_steps=2)
    assert manifest.training["steps"] == 2 and manifest.training["dev_people"] == 5
    assert manifest.heldout["clean_photos"]["faces"] == 32
    embedding = load_distilled(tmp_path / "out")(torch.zeros(1, 3, 64, 64))
    assert embedding.shape == (1, 128) and torch.linalg.norm(embedding) == pytest.approx(1.0, abs=1e-4)


def test_cli_refuses_a_non_positive_budget(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from training.cli import main

    assert main(["distill-identity", "--out", str(tmp_path / "out"), "--minutes", "0"]) == 2
    assert "--minutes must be positive" in capsys.readouterr().err
