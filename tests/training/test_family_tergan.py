"""TER-GAN (paper 4): sizes of section 4.1, cross-identity pairs and augmentation, curriculum,
overfitting real pairs, ONNX export."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine.nets.registry import get_family
from engine.nets.tergan import TerGanConfig, TerGanGenerator, TerGanRecognizer
from tests.training.pairs_4to5 import assert_onnx_matches, london_pairs
from training.base import FeatureNets, training_model_cls
from training.families.tergan import (
    CodeDiscriminator,
    MultiTaskDiscriminator,
    TerGanLoss,
    TerGanModel,
    augment,
    augment_params,
    cross_identity,
)

CPU = torch.device("cpu")
# Narrow widths keep the CPU tests fast; the structure is the paper's.
SMALL = TerGanConfig(image_size=64, encoder_channels=(32, 64, 128, 256, 512), decoder_channels=(256, 128, 64, 32))


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_registered_families() -> None:
    assert get_family("tergan").generator_cls is TerGanGenerator
    assert [s.kind for s in get_family("tergan").inputs] == ["image", "source_image"]
    assert get_family("tergan_recognizer").generator_cls is TerGanRecognizer
    assert [s.kind for s in get_family("tergan_recognizer").inputs] == ["image"]
    assert training_model_cls("tergan") is TerGanModel


@torch.no_grad()
def test_sizes_follow_section_4_1_at_128px() -> None:
    config = TerGanConfig()
    assert config.image_size == 128
    g = TerGanGenerator(config).eval()
    x = torch.rand(1, 3, 128, 128) * 2 - 1
    features = g.expression_encoder.features(x)
    assert [tuple(f.shape[1:]) for f in features] == [
        (64, 128, 128),
        (128, 64, 64),
        (256, 32, 32),
        (512, 16, 16),
        (1024, 8, 8),
    ]
    identity_features = g.identity_encoder.features(x)
    assert [tuple(f.shape[1:3]) for f in identity_features] == [(64, 128), (128, 64), (256, 32), (512, 16), (1024, 8)]
    f_e, f_i = g.expression_encoder(x), g.identity_encoder(x)
    assert f_e.shape == (1, 30) and f_i.shape == (1, 50)
    # The decoder's five up-sampling blocks: 512, 256, 128, 64 and 3 channels, back to 128 px.
    sizes = []
    h = g.decoder.fc(torch.cat([f_e, f_i], 1)).view(1, 1024, 4, 4)
    for block in [*g.decoder.blocks, g.decoder.to_image]:
        h = block(h)
        sizes.append(tuple(h.shape[1:]))
    assert sizes == [(512, 8, 8), (256, 16, 16), (128, 32, 32), (64, 64, 64), (3, 128, 128)]
    out = g(x, x)
    assert out.shape == (1, 3, 128, 128) and out.abs().max() <= 1
    assert TerGanRecognizer(config).eval()(x).shape == (1, 8)
    expression, identity = MultiTaskDiscriminator(config, n_identities=80).eval()(x)
    assert expression.shape == (1, 9) and identity.shape == (1, 80)  # N_e + 1 ("fake") and N_i
    assert CodeDiscriminator(30).eval()(f_e).shape == (1, 1)


@torch.no_grad()
def test_256px_is_a_config_value() -> None:
    config = TerGanConfig(image_size=256)
    g = TerGanGenerator(config).eval()
    x = torch.rand(1, 3, 256, 256) * 2 - 1
    assert g(x, x).shape == (1, 3, 256, 256)
    assert g.expression_encoder.features(x)[-1].shape == (1, 1024, 16, 16)
    assert MultiTaskDiscriminator(config, 10).eval()(x)[0].shape == (1, 9)


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="multiple of 32"):
        TerGanConfig(image_size=100)
    with pytest.raises(ValueError, match="one entry fewer"):
        TerGanConfig(decoder_channels=(512, 256))


def test_curriculum_pretrains_then_freezes_reference_encoders() -> None:
    torch.manual_seed(0)
    model = TerGanModel(SMALL, TerGanLoss(pretrain_steps=2, n_identities=4), FeatureNets(), CPU)
    model.set_input(london_pairs(64))
    first = model.optimize_parameters()
    assert set(first) == {"pretrain_expression", "pretrain_identity"}
    decoder_before = [p.clone() for p in model.generator.decoder.parameters()]
    model.optimize_parameters()
    assert not model.pretraining
    # Stage one trains the encoders only; at its end the frozen references copy them.
    assert all(torch.equal(a, b) for a, b in zip(decoder_before, model.generator.decoder.parameters()))
    g, ref = model.generator, model.pretrained
    for ours, frozen in ((g.expression_encoder, ref.expression), (g.identity_encoder, ref.identity)):
        for a, b in zip(ours.state_dict().values(), frozen.state_dict().values()):
            assert torch.equal(a, b)
    assert not any(p.requires_grad for p in model.pretrained.parameters())
    model.pretrained.train()
    assert not model.pretrained.training
    second = model.optimize_parameters()
    assert {"D", "G_adv", "G_irec", "G_erec", "G_truth", "G_ef", "G_if", "D_es", "D_et", "recognizer"} == set(second)
    # The references stay fixed while the encoders move on.
    changed = any(
        not torch.equal(a, b)
        for a, b in zip(model.generator.expression_encoder.parameters(), model.pretrained.expression.parameters())
    )
    assert changed
    assert int(model.pretrained.state_dict()["steps"]) == 2


def test_without_pretraining_the_feature_losses_are_off() -> None:
    model = TerGanModel(SMALL, TerGanLoss(pretrain_steps=0, n_identities=4), FeatureNets(), CPU)
    model.set_input(london_pairs(64))
    losses = model.optimize_parameters()
    assert "G_ef" not in losses and "G_if" not in losses and "G_adv" in losses


def test_expression_photos_come_from_other_people_with_the_same_label() -> None:
    labels, people = torch.tensor([1, 1, 1, 2, 3, 3]), torch.tensor([0, 1, 2, 3, 4, 4])
    source = cross_identity(labels, people)
    assert source.tolist()[:4] == [1, 2, 0, 3]  # label 2 has one person only: it keeps its own
    assert source.tolist()[4:] == [4, 5]  # both label-3 samples are person 4
    batch = london_pairs(64)
    model = TerGanModel(SMALL, TerGanLoss(pretrain_steps=0, n_identities=4, augment=False), FeatureNets(), CPU)
    model.set_input(batch)
    for i, j in enumerate(cross_identity(batch["tgt_label"], batch["person"]).tolist()):
        assert batch["person"][i] != batch["person"][j]
        assert torch.equal(model.expression_image[i], batch["tgt_image"][j])
        assert torch.equal(model.truth[i], batch["tgt_image"][i])


def test_augmentation_is_five_crops_rotations_and_flips() -> None:
    torch.manual_seed(0)
    image = london_pairs(64)["src_image"][:1]
    theta = augment_params(200, 75 / 84)
    scales = torch.linalg.det(theta[:, :, :2]).abs().sqrt()
    torch.testing.assert_close(scales, torch.full((200,), 75 / 84))
    assert len({tuple(t.round(decimals=4).tolist()) for t in theta[:, :, 2]}) == 5  # centre + four corners
    assert {bool(t) for t in torch.linalg.det(theta[:, :, :2]) < 0} == {True, False}  # mirrored and not
    angles = torch.rad2deg(torch.atan2(theta[:, 1, 0], theta[:, 1, 1])).round()
    assert set(angles.tolist()) == {-6.0, -3.0, 0.0, 3.0, 6.0}
    identity = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
    torch.testing.assert_close(augment(image, identity), image, atol=1e-5, rtol=0)
    moved = augment(image.expand(4, -1, -1, -1), theta[:4])
    assert moved.shape == (4, 3, 64, 64) and (moved - image).abs().mean() > 0.02


def test_loss_defaults_are_the_papers() -> None:
    loss = TerGanLoss()
    assert (loss.lambda_if, loss.lambda_ef, loss.lambda_irec, loss.lambda_erec) == (1, 1, 1, 1)
    assert (loss.lambda_det, loss.lambda_des, loss.lambda_adv) == (0.3, 0.3, 0.5)
    assert loss.feature_weights == (0.5, 0.6, 0.7, 0.88, 0.99)
    assert loss.lr == 2e-4


@pytest.mark.slow
def test_overfits_four_real_pairs() -> None:
    torch.manual_seed(0)
    model = TerGanModel(SMALL, TerGanLoss(pretrain_steps=3, n_identities=4, cross_identity=False, augment=False), FeatureNets(), CPU)
    model.set_input(london_pairs(64))
    start = model.reconstruction_loss()
    for _ in range(30):
        losses = model.optimize_parameters()
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())
    assert model.reconstruction_loss() <= 0.5 * start
    visuals = model.visuals()
    assert visuals["output"].shape == (4, 3, 64, 64)


@pytest.mark.slow
def test_generator_and_recognizer_export_to_onnx(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = TerGanModel(TerGanConfig(), TerGanLoss(n_identities=4), FeatureNets(), CPU)
    model.set_input(london_pairs(128))
    inputs = tuple(x[:1] for x in model.generator_inputs())
    assert_onnx_matches(model.generator, inputs, ["image", "source_image"], "output", tmp_path / "tergan.onnx")
    (role, (family, recognizer, aux_inputs)), = model.auxiliary_networks().items()
    assert role == "recognizer" and family == "tergan_recognizer"
    assert recognizer.encoder is model.generator.expression_encoder
    assert_onnx_matches(recognizer, tuple(x[:1] for x in aux_inputs), ["image"], "logits", tmp_path / "recognizer.onnx")


def test_too_few_identity_classes_is_a_clear_error() -> None:
    model = TerGanModel(SMALL, TerGanLoss(n_identities=3), FeatureNets(), CPU)
    with pytest.raises(ValueError, match="n_identities"):
        model.set_input(london_pairs(64))
