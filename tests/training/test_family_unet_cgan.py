"""Paper 3 (unet_cgan): U-Net and discriminator shapes, the identity triplet, a short overfit, ONNX."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from engine.geometry.labels import EXPRESSIONS
from engine.nets.registry import get_family
from engine.nets.unet_cgan import UnetCganConfig, UnetCganGenerator
from tests.training.pairs_1to3 import (
    assert_onnx_matches,
    london_batch,
    output_shapes,
    settle_batch_norm,
)
from training.base import FeatureNets, training_model_cls
from training.families.unet_cgan import IdentityAwareDiscriminator, UnetCganLoss, UnetCganTraining

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)


def _inputs(config: UnetCganConfig, batch: int = 1, label: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    n = config.image_size
    labels = torch.full((batch, config.n_labels, n, n), -1.0)
    labels[:, label] = 1.0
    return torch.rand(batch, 3, n, n) * 2 - 1, labels


def test_registered_with_its_inputs():
    family = get_family("unet_cgan")
    assert family.generator_cls is UnetCganGenerator
    assert [(s.kind, s.channels) for s in family.inputs] == [("image", 3), ("label_maps", len(EXPRESSIONS))]
    assert training_model_cls("unet_cgan") is UnetCganTraining
    assert UnetCganTraining.loss_config_cls() is UnetCganLoss


def test_generator_and_discriminator_shapes_at_128px():
    config = UnetCganConfig()
    g = UnetCganGenerator(config).eval()
    image, labels = _inputs(config)
    with torch.no_grad():
        downs = output_shapes(g.unet.downs, lambda: g(image, labels))
        out = g(image, labels)
    assert downs == [(64, 64, 64), (128, 32, 32), (256, 16, 16), (512, 8, 8), (512, 4, 4), (512, 2, 2), (512, 1, 1)]
    assert out.shape == (1, 3, 128, 128) and out.abs().max() <= 1.0
    assert g.unet.downs[0][0].in_channels == 3 + len(EXPRESSIONS)

    d = IdentityAwareDiscriminator(len(EXPRESSIONS)).eval()
    with torch.no_grad():
        assert d.trunk(image).shape == (1, 128, 32, 32)
        assert d(image, out, labels).shape == (1, 1, 14, 14)  # pix2pix's 70 x 70 PatchGAN output
        embedding = d.embed(torch.cat([image, out]))
    assert embedding.shape == (2, 128)
    assert torch.allclose(embedding.norm(dim=1), torch.ones(2))


def test_one_generator_many_expressions():
    config = UnetCganConfig(image_size=64, ngf=8)
    g = UnetCganGenerator(config).eval()
    image, happy = _inputs(config, label=EXPRESSIONS.index("happy"))
    _, sad = _inputs(config, label=EXPRESSIONS.index("sad"))
    with torch.no_grad():
        assert (g(image, happy) - g(image, sad)).abs().max() > 1e-4


def test_256px_is_a_config_value():
    model = UnetCganTraining(UnetCganConfig(image_size=256, ngf=8), UnetCganLoss(), FeatureNets(), CPU)
    model.set_input({k: v[:2] for k, v in london_batch(256).items()})
    assert model.forward().shape == (2, 3, 256, 256)
    assert len(model.generator.unet.downs) == 8
    assert model.discriminator(model.src, model.tgt, model.labels).shape == (2, 1, 30, 30)
    losses = model.optimize_parameters()
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())


def test_triplet_uses_identity_net_else_the_discriminator_head():
    arch = UnetCganConfig(image_size=64, ngf=8)
    batch = london_batch(64)
    assert not torch.equal(batch["other_image"], batch["tgt_image"])
    model = UnetCganTraining(arch, UnetCganLoss(), FeatureNets(), CPU)
    model.set_input(batch)
    losses = model.optimize_parameters()
    assert losses["triplet_from_discriminator"] == 1.0
    assert {"D_real", "D_fake", "D_triplet", "G_triplet"} <= set(losses)
    # A fixed stand-in for a face-recognition net: the plumbing, not the features, is under test.
    embed = nn.Sequential(nn.AdaptiveAvgPool2d(4), nn.Flatten())
    model = UnetCganTraining(arch, UnetCganLoss(), FeatureNets(identity=embed, identity_name="pool"), CPU)
    model.set_input(batch)
    assert model.optimize_parameters()["triplet_from_discriminator"] == 0.0


@pytest.mark.slow
def test_overfits_four_london_pairs():
    model = UnetCganTraining(UnetCganConfig(image_size=64, ngf=32), UnetCganLoss(), FeatureNets(), CPU)
    model.set_input(london_batch(64))
    before = model.reconstruction_loss()
    for _ in range(30):
        model.optimize_parameters()
    settle_batch_norm(model.generator, model.generator_inputs())
    assert model.reconstruction_loss() <= 0.5 * before


def test_exports_to_onnx(tmp_path):
    config = UnetCganConfig(image_size=64, ngf=8)
    assert_onnx_matches(UnetCganGenerator(config), _inputs(config, 2), ["image", "labels"], tmp_path / "unet_cgan.onnx")
