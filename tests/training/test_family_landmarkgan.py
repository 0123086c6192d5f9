"""LandmarkGAN (paper 5): sizes of section III, losses eq. 4 and 7, eq. 10's intensity label, the
differentiable landmark image, joint training (stage II's losses reach G_l), identity switch,
overfitting real pairs, ONNX export of both stages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from engine.nets.landmarkgan import (
    ExpressionGenerator,
    LandmarkGanConfig,
    LandmarkGenerator,
    split_label,
    splat_landmark_image,
)
from engine.nets.registry import get_family
from tests.training.pairs_4to5 import assert_onnx_matches, london_pairs
from training.base import FeatureNets, training_model_cls
from training.families.landmarkgan import (
    LandmarkDiscriminator,
    LandmarkGanLoss,
    LandmarkGanModel,
    PatchDiscriminator,
    l12_loss,
    landmark_loss,
)

CPU = torch.device("cpu")
# Narrow widths keep the CPU tests fast; the structure is the paper's.
SMALL = LandmarkGanConfig(image_size=64, ngf=32, image_embedding=128)
SMALL_LOSS = LandmarkGanLoss(ndf=32)


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _label(batch: int) -> torch.Tensor:
    label = torch.zeros(batch, 8)
    label[:, 1] = 1.0
    return label


def test_registered_families() -> None:
    stage2, stage1 = get_family("landmarkgan"), get_family("landmarkgan_landmarks")
    assert stage2.generator_cls is ExpressionGenerator
    assert [(s.kind, s.channels) for s in stage2.inputs] == [("image", 3), ("landmarks", 68), ("label_onehot", 8)]
    assert stage1.generator_cls is LandmarkGenerator
    assert [(s.kind, s.channels) for s in stage1.inputs] == [("image", 3), ("label_onehot", 8), ("noise", 16)]
    assert stage1.config_cls is stage2.config_cls  # one manifest architecture rebuilds both
    assert training_model_cls("landmarkgan") is LandmarkGanModel


@torch.no_grad()
def test_sizes_at_128px() -> None:
    config = LandmarkGanConfig()
    assert config.image_size == 128
    x = torch.rand(2, 3, 128, 128) * 2 - 1
    g_e = ExpressionGenerator(config).eval()
    # pix2pix U-Net: seven stride-2 steps, 64..512 channels, down to a 1x1 bottleneck.
    shapes = []
    h = torch.cat([x, x, torch.zeros(2, 12, 128, 128)], 1)  # photo, landmark image, l_e (8), l_i (4)
    for down in g_e.unet.downs:
        h = down(h)
        shapes.append(tuple(h.shape[1:]))
    assert shapes == [(64, 64, 64), (128, 32, 32), (256, 16, 16), (512, 8, 8), (512, 4, 4), (512, 2, 2), (512, 1, 1)]
    points = torch.rand(2, 68, 2)
    out = g_e(x, points, _label(2))
    assert out.shape == (2, 3, 128, 128) and out.abs().max() <= 1
    landmarks = LandmarkGenerator(config).eval()(x, _label(2), torch.randn(2, 16))
    assert landmarks.shape == (2, 68, 2)
    assert landmarks.min() >= 0 and landmarks.max() <= 1
    patches = PatchDiscriminator(6, 64, 3).eval()(torch.cat([x, out], 1))
    assert patches.shape == (2, 1, 14, 14)  # 70x70 receptive fields over a 128 px crop
    assert LandmarkDiscriminator(256).eval()(landmarks).shape == (2, 1)


@torch.no_grad()
def test_256px_is_a_config_value() -> None:
    config = LandmarkGanConfig(image_size=256)
    x = torch.rand(1, 3, 256, 256) * 2 - 1
    g_e = ExpressionGenerator(config).eval()
    assert len(g_e.unet.downs) == 8
    assert g_e(x, torch.rand(1, 68, 2), _label(1)).shape == (1, 3, 256, 256)
    assert LandmarkGenerator(config).eval()(x, _label(1), torch.randn(1, 16)).shape == (1, 68, 2)


def test_bad_size_is_refused() -> None:
    with pytest.raises(ValueError, match="power of two"):
        LandmarkGanConfig(image_size=96)


def test_landmark_loss_is_mean_point_distance() -> None:
    real = torch.zeros(1, 68, 2)
    fake = real.clone()
    fake[0, 0] = torch.tensor([3.0, 4.0])
    assert landmark_loss(fake, real).item() == pytest.approx(5.0 / 68)


def test_l12_loss_is_eq_7() -> None:
    real = torch.zeros(4)
    fake = torch.tensor([0.5, -0.2, 1.5, -3.0])
    expected = (0.5 * 0.25 + 0.5 * 0.04 + (1.5 - 0.5) + (3.0 - 0.5)) / 4
    assert l12_loss(fake, real).item() == pytest.approx(expected)


def test_intensity_is_its_own_label() -> None:
    label = torch.zeros(3, 8)
    label[0, 1], label[1, 1], label[2, 3] = 0.75, 1.5, 0.9375
    one_hot, level = split_label(label)
    np.testing.assert_allclose(one_hot[:, [1, 1, 3]].diagonal().numpy(), 1.0, rtol=1e-6)
    np.testing.assert_allclose(level.numpy(), [[0, 1, 0, 0], [0, 0, 0, 1], [0, 0.5, 0.5, 0]], atol=1e-6)


def test_landmark_image_dots_carry_the_photos_colour_on_white() -> None:
    batch = london_pairs(64)
    image, points = batch["src_image"][:1], batch["tgt_landmarks"][:1] / 64
    drawn = splat_landmark_image(image, points, 4.0)
    x, y = (points[0, 30] * 64).round().long().tolist()  # nose tip
    assert (drawn[0, :, y, x] - image[0, :, y - 1 : y + 2, x - 1 : x + 2].mean((1, 2))).abs().max() < 0.25
    assert torch.allclose(drawn[0, :, 1, 1], torch.ones(3), atol=1e-3)  # far from every point: white


def test_stage_two_losses_reach_the_landmark_generator() -> None:
    torch.manual_seed(0)
    model = LandmarkGanModel(SMALL, SMALL_LOSS, FeatureNets(), CPU)
    model.set_input(london_pairs(64))
    fake = model.forward()
    stage2, _ = model._stage2_loss(fake)
    stage2.backward()
    grads = [p.grad for p in model.landmark_generator.parameters()]
    assert all(g is not None for g in grads) and sum(g.abs().sum().item() for g in grads) > 0


class _PooledColours(nn.Module):
    """A fixed, parameter-free stand-in for a face embedding: 4x4 average colours, (B, 48)."""

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return nn.functional.adaptive_avg_pool2d(image, 4).flatten(1)


def test_identity_loss_is_off_without_a_network_and_on_with_one() -> None:
    batch = london_pairs(64)
    off = LandmarkGanModel(SMALL, SMALL_LOSS, FeatureNets(), CPU)
    assert "G_identity" in off.inactive_losses
    off.set_input(batch)
    assert "G_identity" not in off.optimize_parameters()
    on = LandmarkGanModel(SMALL, SMALL_LOSS, FeatureNets(identity=_PooledColours(), identity_name="pooled"), CPU)
    assert on.inactive_losses == {}
    on.set_input(batch)
    losses = on.optimize_parameters()
    assert {"D_l", "G_l_gan", "G_l_landmark", "D_e1", "D_e2", "G_e_gan", "G_e_l12", "G_identity"} == set(losses)


def test_loss_defaults_are_the_papers() -> None:
    loss = LandmarkGanLoss()
    assert (loss.lambda_landmark, loss.lambda_l12, loss.lambda_identity) == (2, 100, 0.1)
    assert LandmarkGanConfig().landmark_radius == 4
    assert (loss.lr, loss.beta1, loss.beta2) == (2e-4, 0.5, 0.999)


@pytest.mark.slow
def test_overfits_four_real_pairs() -> None:
    torch.manual_seed(0)
    model = LandmarkGanModel(SMALL, SMALL_LOSS, FeatureNets(), CPU)
    model.set_input(london_pairs(64))
    start = model.reconstruction_loss()
    first = model.optimize_parameters()
    for _ in range(29):
        losses = model.optimize_parameters()
    assert all(np.isfinite(v) for v in losses.values())
    assert model.reconstruction_loss() <= 0.5 * start
    assert losses["G_l_landmark"] < first["G_l_landmark"]
    visuals = model.visuals()
    assert visuals["landmarks"].shape == visuals["output"].shape == (4, 3, 64, 64)


@pytest.mark.slow
def test_both_stages_export_to_onnx(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = LandmarkGanModel(LandmarkGanConfig(), LandmarkGanLoss(), FeatureNets(), CPU)
    model.set_input(london_pairs(128))
    inputs = tuple(x[:1] for x in model.generator_inputs())
    names = ["image", "landmarks", "label"]
    assert_onnx_matches(model.generator, inputs, names, "output", tmp_path / "model.onnx")
    (role, (family, stage1, aux_inputs)), = model.auxiliary_networks().items()
    assert role == "landmarks" and family == "landmarkgan_landmarks"
    stage1_inputs = tuple(x[:1] for x in aux_inputs)
    assert_onnx_matches(stage1, stage1_inputs, ["image", "label", "noise"], "landmarks", tmp_path / "landmarks.onnx")
