"""Paper 1 (lgan): the tables' tensor shapes, a short overfit on real pairs, the ONNX export."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from engine.nets.lgan import LganConfig, LganGenerator
from engine.nets.registry import get_family
from tests.training.pairs_1to3 import (
    assert_onnx_matches,
    london_batch,
    output_shapes,
    settle_batch_norm,
)
from training.base import FeatureNets, training_model_cls
from training.families.common import PatchDiscriminator
from training.families.lgan import LganLoss, LganTraining

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)


def _inputs(config: LganConfig, batch: int = 1) -> tuple[torch.Tensor, ...]:
    n = config.image_size
    return (
        torch.rand(batch, 3, n, n) * 2 - 1,
        torch.rand(batch, config.n_landmarks, n, n),
        torch.full((batch, config.n_labels, n, n), -1.0),
    )


def test_registered_with_its_inputs():
    family = get_family("lgan")
    assert family.generator_cls is LganGenerator
    assert family.config_cls is LganConfig
    assert [(s.kind, s.channels) for s in family.inputs] == [("image", 3), ("heatmap68", 68), ("label_maps", 8)]
    assert training_model_cls("lgan") is LganTraining
    assert LganTraining.loss_config_cls() is LganLoss


def test_paper_loss_weights_and_optimiser():
    loss = LganLoss()
    assert (loss.gan, loss.perceptual, loss.pixel, loss.lr) == (5.0, 10.0, 10.0, 2e-4)
    with pytest.raises(dataclasses.FrozenInstanceError):
        loss.gan = 1.0  # type: ignore[misc]


def test_generator_shapes_follow_tables_1_and_2_at_128px():
    config = LganConfig()
    g = LganGenerator(config).eval()
    image, heatmap, labels = _inputs(config)
    with torch.no_grad():
        face = g.e_ini_face(image)
        geometry = g.e_ini_geometry(heatmap)
        assert face.shape[1:] == geometry.shape[1:] == (256, 32, 32)
        for block in g.encoder.blocks:
            face, geometry = block(face, geometry)
            assert face.shape[1:] == (256, 32, 32)
            assert geometry.shape[1:] == (512, 32, 32)  # eq. 3: conv_s(F^S) || F^P
        assert len(g.encoder.blocks) == 6
        decoder_shapes = output_shapes(g.decoder, lambda: g(image, heatmap, labels))
    # Table 2, rows 1-9: ConvT, BN, ReLU, ConvT, BN, ReLU, ReflectionPad, Conv, Tanh (C, H, W).
    assert decoder_shapes == [
        (128, 64, 64), (128, 64, 64), (128, 64, 64),
        (64, 128, 128), (64, 128, 128), (64, 128, 128),
        (64, 134, 134), (3, 128, 128), (3, 128, 128),
    ]  # fmt: skip
    assert g.decoder[0].in_channels == 256 + 8  # label maps concatenated before the decoder


def test_migration_unit_layers_follow_table_1():
    block = LganGenerator(LganConfig()).encoder.blocks[1]
    rows_1 = ["ReflectionPad2d", "Conv2d", "BatchNorm2d", "ReLU", "Dropout", "ReflectionPad2d", "Conv2d", "BatchNorm2d"]
    rows_2 = rows_1[:-1]  # the geometry path ends on the conv: its output goes through the sigmoid of eq. 1
    assert [type(m).__name__ for m in block.conv_p.modules() if not isinstance(m, nn.Sequential)] == rows_1
    assert [type(m).__name__ for m in block.conv_s.modules() if not isinstance(m, nn.Sequential)] == rows_2


def test_discriminator_shapes_follow_table_3():
    d = PatchDiscriminator(3 + 3).eval()
    with torch.no_grad():
        shapes = output_shapes(d.layers, lambda: d(torch.zeros(1, 6, 128, 128)))
    assert shapes == [(64, 64, 64), (128, 32, 32), (256, 16, 16), (512, 15, 15), (1, 14, 14)]


def test_256px_is_a_config_value():
    arch = LganConfig(image_size=256, ngf=8, n_blocks=1)
    model = LganTraining(arch, LganLoss(), FeatureNets(), CPU)
    model.set_input({k: v[:1] for k, v in london_batch(256).items()})
    assert model.forward().shape == (1, 3, 256, 256)
    assert model.d_geometry(torch.cat([model.tgt, model.heatmap], 1)).shape == (1, 1, 30, 30)
    losses = model.optimize_parameters()
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())


def test_perceptual_term_follows_the_feature_net():
    arch = LganConfig(image_size=64, ngf=8, n_blocks=1)
    batch = london_batch(64)
    off = LganTraining(arch, LganLoss(), FeatureNets(), CPU)
    off.set_input(batch)
    losses = off.optimize_parameters()
    assert losses["w_perceptual"] == 0.0 and losses["G_perceptual"] == 0.0
    # A fixed stand-in for VGG19 conv1_2: the plumbing, not the features, is under test.
    on = LganTraining(arch, LganLoss(), FeatureNets(perceptual=nn.AvgPool2d(4), perceptual_name="avgpool"), CPU)
    on.set_input(batch)
    losses = on.optimize_parameters()
    assert losses["w_perceptual"] == 10.0 and losses["G_perceptual"] > 0.0


@pytest.mark.slow
def test_overfits_four_london_pairs():
    # Narrow test widths; paper losses and optimiser. Dropout off so that eval mode matches training.
    arch = LganConfig(image_size=64, ngf=32, n_blocks=2, dropout=0.0)
    model = LganTraining(arch, LganLoss(), FeatureNets(), CPU)
    model.set_input(london_batch(64))
    before = model.reconstruction_loss()
    for _ in range(30):
        model.optimize_parameters()
    settle_batch_norm(model.generator, model.generator_inputs())
    assert model.reconstruction_loss() <= 0.5 * before


def test_exports_to_onnx(tmp_path):
    config = LganConfig(image_size=64, ngf=8, n_blocks=2)
    names = ["image", "heatmap", "labels"]
    assert_onnx_matches(LganGenerator(config), _inputs(config, 2), names, tmp_path / "lgan.onnx")
