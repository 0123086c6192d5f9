"""Feature networks load real weights, stay frozen, and see photos as photos."""

from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest
import torch

from engine.geometry.conditions import to_unit_range
from engine.io.images import read_image
from training.features import (
    FeatureError,
    MobileNetV2,
    MobileNetV2Embedding,
    MobileNetV2Features,
    Vgg19Conv12,
    build_feature_nets,
    load_identity_net,
    mobilenet_weights_path,
)
from tests.conftest import london_photo


@pytest.fixture(scope="module")
def mobilenet():
    return MobileNetV2Features()


def crop(person: str, x: int, y: int, side: int = 400) -> torch.Tensor:
    image = read_image(london_photo(person))[y : y + side, x : x + side]
    return torch.from_numpy(to_unit_range(cv2.resize(image, (224, 224), interpolation=cv2.INTER_AREA)))


def test_mobilenet_loads_imagenet_weights_and_is_frozen(mobilenet):
    reference = torch.load(mobilenet_weights_path(), map_location="cpu", weights_only=True)
    assert torch.equal(mobilenet.net.features[0][0].weight, reference["features.0.0.weight"])
    assert torch.equal(mobilenet.net.classifier[1].bias, reference["classifier.1.bias"])
    assert not any(p.requires_grad for p in mobilenet.parameters())
    mobilenet.train()
    assert not mobilenet.training and not mobilenet.net.training


def test_same_photo_crops_are_closer_than_different_people(mobilenet):
    with torch.no_grad():
        emb = mobilenet.embedding(torch.stack([crop("001", 40, 40), crop("001", 60, 50), crop("004", 40, 40)]))
    emb = torch.nn.functional.normalize(emb, dim=1)
    same, different = float((emb[0] - emb[1]).norm()), float((emb[0] - emb[2]).norm())
    assert same < 0.6 * different


def test_perceptual_features_pass_gradients_to_the_image_only(mobilenet):
    image = crop("001", 40, 40)[None].requires_grad_(True)
    features = mobilenet(image)
    assert features.shape == (1, 32, 28, 28)
    features.mean().backward()
    assert image.grad is not None and float(image.grad.abs().sum()) > 0
    assert all(p.grad is None for p in mobilenet.parameters())


def test_vgg19_needs_real_weights(tmp_path):
    with pytest.raises(FeatureError, match="needs features.vgg19_weights"):
        build_feature_nets("vgg19-conv1_2", torch.device("cpu"))
    not_vgg = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, not_vgg)
    with pytest.raises(FeatureError, match="not a torchvision VGG19 state dict"):
        Vgg19Conv12(not_vgg)
    with pytest.raises(FeatureError, match="not found"):
        Vgg19Conv12(tmp_path / "missing.pth")


def _identity_from_imagenet(dim: int = 64) -> MobileNetV2Embedding:
    """A MobileNetV2Embedding made only of real weights: the ImageNet backbone and the first
    ``dim`` rows of its ImageNet classifier as the embedding layer."""
    imagenet = MobileNetV2()
    imagenet.load_state_dict(torch.load(mobilenet_weights_path(), map_location="cpu", weights_only=True))
    net = MobileNetV2Embedding(dim)
    net.backbone.features.load_state_dict(imagenet.features.state_dict())
    net.embed.weight.data.copy_(imagenet.classifier[1].weight[:dim])
    net.embed.bias.data.copy_(imagenet.classifier[1].bias[:dim])
    return net.eval()


@pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")
def test_identity_network_from_state_dict_or_torchscript(tmp_path):
    net = _identity_from_imagenet()
    images = torch.stack([crop("001", 40, 40), crop("004", 40, 40)])
    state_path, script_path = tmp_path / "id.pth", tmp_path / "id.pt"
    torch.save(net.state_dict(), state_path)
    torch.jit.trace(net, torch.zeros(1, 3, 112, 112)).save(str(script_path))
    from_state, from_script = load_identity_net(state_path), load_identity_net(script_path)
    with torch.no_grad():
        a, b = from_state(images), from_script(images)
    assert a.shape == (2, 64)
    assert np.allclose(a.norm(dim=1).numpy(), 1.0, atol=1e-5)
    assert torch.allclose(a, b, atol=1e-5)
    with pytest.raises(FeatureError, match="no embed.weight"):
        torch.save({"x": torch.zeros(1)}, tmp_path / "other.pth")
        load_identity_net(tmp_path / "other.pth")


def test_identity_loss_off_without_a_network_is_logged(caplog):
    with caplog.at_level(logging.INFO, logger="training.features"):
        nets = build_feature_nets("none", torch.device("cpu"))
    assert nets.perceptual is None and nets.identity is None and nets.identity_name == "none"
    assert sum("identity loss is off" in r.message for r in caplog.records) == 1
    with pytest.raises(FeatureError, match="unknown perceptual network"):
        build_feature_nets("lpips", torch.device("cpu"))
