"""Paper 2 (g2gan): U-Net and PatchGAN shapes, the identity ramp, a short overfit, the ONNX export."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from engine.nets.g2gan import ExpressionRemovalGenerator, ExpressionSynthesisGenerator, G2ganConfig
from engine.nets.registry import get_family
from tests.training.pairs_1to3 import (
    assert_onnx_matches,
    london_batch,
    output_shapes,
    settle_batch_norm,
)
from training.base import FeatureNets, training_model_cls
from training.families.g2gan import G2ganLoss, G2ganTraining

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)


def _inputs(config: G2ganConfig, batch: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    n = config.image_size
    return torch.rand(batch, 3, n, n) * 2 - 1, torch.rand(batch, config.n_landmarks, n, n)


def test_both_generators_registered():
    synthesis, removal = get_family("g2gan"), get_family("g2gan_removal")
    assert synthesis.generator_cls is ExpressionSynthesisGenerator
    assert removal.generator_cls is ExpressionRemovalGenerator
    assert synthesis.config_cls is removal.config_cls is G2ganConfig
    for family in (synthesis, removal):
        assert [(s.kind, s.channels) for s in family.inputs] == [("image", 3), ("heatmap68", 68)]
    assert training_model_cls("g2gan") is G2ganTraining
    assert G2ganTraining.loss_config_cls() is G2ganLoss


def test_paper_loss_weights():
    loss = G2ganLoss()
    assert (loss.pixel, loss.cycle, loss.identity_start, loss.identity_end, loss.lr) == (10.0, 5.0, 0.1, 0.5, 2e-4)


def test_unet_and_patchgan_shapes_at_128px():
    config = G2ganConfig()
    g = ExpressionSynthesisGenerator(config).eval()
    image, heatmap = _inputs(config)
    with torch.no_grad():
        downs = output_shapes(g.unet.downs, lambda: g(image, heatmap))
        ups = output_shapes(g.unet.ups, lambda: g(image, heatmap))
    # pix2pix's unet_128: seven stride-2 steps down to 1 x 1 and back, skips between mirrored steps.
    assert downs == [(64, 64, 64), (128, 32, 32), (256, 16, 16), (512, 8, 8), (512, 4, 4), (512, 2, 2), (512, 1, 1)]
    assert ups == [(512, 2, 2), (512, 4, 4), (512, 8, 8), (256, 16, 16), (128, 32, 32), (64, 64, 64), (3, 128, 128)]
    assert g.unet.downs[0][0].in_channels == 3 + 68
    model = G2ganTraining(G2ganConfig(ngf=8), G2ganLoss(), FeatureNets(), CPU)
    with torch.no_grad():
        triplet = torch.zeros(1, 3 + 68 + 3, 128, 128)  # (condition face, H^E, candidate face)
        assert model.d_synthesis(triplet).shape == model.d_removal(triplet).shape == (1, 1, 14, 14)


def test_256px_is_a_config_value():
    model = G2ganTraining(G2ganConfig(image_size=256, ngf=8), G2ganLoss(), FeatureNets(), CPU)
    model.set_input({k: v[:1] for k, v in london_batch(256).items()})
    assert model.forward().shape == model.fake_neutral.shape == (1, 3, 256, 256)
    assert len(model.generator.unet.downs) == 8  # unet_256
    losses = model.optimize_parameters()
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())


def test_identity_weight_ramps_and_needs_a_feature_net():
    arch = G2ganConfig(image_size=64, ngf=8)
    model = G2ganTraining(arch, G2ganLoss(identity_ramp_steps=100), FeatureNets(), CPU)
    assert model.identity_weight(0) == pytest.approx(0.1)
    assert model.identity_weight(50) == pytest.approx(0.3)
    assert model.identity_weight(1000) == pytest.approx(0.5)

    batch = london_batch(64)
    model.set_input(batch)
    losses = model.optimize_parameters()
    assert losses["w_identity"] == 0.0 and losses["G_identity"] == 0.0
    # A fixed stand-in for Light CNN: the plumbing, not the features, is under test.
    embed = nn.Sequential(nn.AdaptiveAvgPool2d(4), nn.Flatten())
    model = G2ganTraining(arch, G2ganLoss(), FeatureNets(identity=embed, identity_name="pool"), CPU)
    model.set_input(batch)
    losses = model.optimize_parameters()
    assert losses["w_identity"] == pytest.approx(0.1) and losses["G_identity"] > 0.0
    assert model.generator_steps() == 1
    model.optimize_parameters()
    assert model.generator_steps() == 2
    resumed = G2ganTraining(arch, G2ganLoss(), FeatureNets(identity=embed, identity_name="pool"), CPU)
    resumed.opt_g.load_state_dict(model.opt_g.state_dict())
    assert resumed.generator_steps() == 2  # the ramp resumes with the optimiser's checkpoint


def test_removal_generator_is_exported_beside_the_synthesis_one():
    model = G2ganTraining(G2ganConfig(image_size=64, ngf=8), G2ganLoss(), FeatureNets(), CPU)
    model.set_input(london_batch(64))
    ((role, (family, network, inputs)),) = model.auxiliary_networks().items()
    assert (role, family) == ("removal", "g2gan_removal") and network is model.removal
    assert isinstance(network, get_family(family).generator_cls)
    assert torch.equal(inputs[0], model.expressive)  # G_R edits the expressioned face, with its own heatmaps
    assert network(*inputs).shape == (4, 3, 64, 64)


@pytest.mark.slow
def test_overfits_four_london_pairs():
    model = G2ganTraining(G2ganConfig(image_size=64, ngf=32), G2ganLoss(), FeatureNets(), CPU)
    model.set_input(london_batch(64))
    before = model.reconstruction_loss()
    for _ in range(30):
        model.optimize_parameters()
    settle_batch_norm(model.generator, model.generator_inputs())
    assert model.reconstruction_loss() <= 0.5 * before


def test_exports_to_onnx(tmp_path):
    config = G2ganConfig(image_size=64, ngf=8)
    for cls in (ExpressionSynthesisGenerator, ExpressionRemovalGenerator):
        assert_onnx_matches(cls(config), _inputs(config, 2), ["image", "heatmap"], tmp_path / f"{cls.__name__}.onnx")
