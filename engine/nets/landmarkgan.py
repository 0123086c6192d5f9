"""LandmarkGAN (paper 5, Tang & Sebe, "Facial Expression Translation using Landmark Guided GANs").

Two generators, run one after the other:

* Stage I, G_l (:class:`LandmarkGenerator`, family ``landmarkgan_landmarks``): the photo, the target
  expression as a one-hot vector (scaled by intensity) and noise z_1 -> the 68 target landmarks,
  (B, 68, 2) in units of the crop size (0..1). The label embedding joins the image embedding "at the
  bottleneck fully connected layer" (section III-A). This output is landmarks, not an image.
* Stage II, G_e (:class:`ExpressionGenerator`, family ``landmarkgan``): the photo, the coloured
  landmark image of stage I's landmarks (engine.geometry.conditions.landmark_image, S_l = 4) and the
  same label vector -> the photo with the target expression. A pix2pix U-Net (section III-C).

At run time the app runs stage I, multiplies its output by N, renders the landmark image from the
input crop with ``landmark_image`` and runs stage II. A model folder ships stage II as ``model.onnx``
and stage I under the manifest's ``auxiliary = {"landmarks": "landmarks"}``; both families share
:class:`LandmarkGanConfig`, so the manifest's one ``architecture`` rebuilds either.

Label input choice: stage II takes the label as the same (L,) vector as stage I (InputSpec kind
``label_onehot``) and tiles it to constant maps inside the network, so the runtime builds one label
tensor for both stages. Noise: the paper feeds z_2 only through dropout (pix2pix), so stage II has no
noise input; stage I keeps the z_1 of its formulation G_l: [x, z_1, l_e] -> l as a small vector input
(``noise``, :data:`NOISE_DIM` standard-normal values) beside its dropout.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from engine.geometry.labels import EXPRESSIONS
from engine.nets.blocks import UNet, UNetDown, init_normal, tile_vector, unet_depth
from engine.nets.registry import InputSpec, register

PAPER = "Tang & Sebe, Facial Expression Translation using Landmark Guided GANs (LandmarkGAN)"

N_LANDMARKS = 68
N_LABELS = len(EXPRESSIONS)
NOISE_DIM = 16


@dataclass(frozen=True)
class LandmarkGanConfig:
    """Architecture of both LandmarkGAN generators (paper 5, section III-C).

    image_size: N of the (3, N, N) crops, a power of two >= 32 (the paper uses 256; the app 128).
    ngf: width of the first layer; U-Net and G_l encoder widths are ngf * min(2 ** i, 8) (pix2pix).
    dropout: rate of the dropout layers (50%): G_e's decoder steps between 8ngf-wide maps below the
        bottleneck (pix2pix's placement: three blocks at 256 px, two at 128 px) and G_l's landmark head.
    image_embedding, label_embedding: sizes of G_l's bottleneck FC image and label embeddings.
    """

    image_size: int = 128
    ngf: int = 64
    dropout: float = 0.5
    image_embedding: int = 512
    label_embedding: int = 64

    def __post_init__(self) -> None:
        if self.image_size < 32 or self.image_size & (self.image_size - 1):
            raise ValueError(f"image_size must be a power of two >= 32, got {self.image_size}")

    def width(self, level: int) -> int:
        return self.ngf * min(2**level, 8)


@register(
    "landmarkgan",
    paper=PAPER,
    config=LandmarkGanConfig,
    inputs=(
        InputSpec("image", "image", 3),
        InputSpec("landmark_image", "landmark_image", 3),
        InputSpec("label", "label_onehot", N_LABELS),
    ),
)
class ExpressionGenerator(nn.Module):
    """Stage II, G_e: landmark-guided expression-to-expression translation.

    image: Bx3xNxN in [-1, 1], the photo to edit; landmark_image: Bx3xNxN in [-1, 1], the coloured
    landmark image of the target landmarks (white background); label: Bx8 one-hot target expression,
    optionally scaled by intensity. Returns Bx3xNxN in [-1, 1].

    The network is pix2pix's U-Net (engine.nets.blocks.UNet) on the 14-channel concatenation of the
    photo, the landmark image and the label tiled to constant maps; pix2pix's N(0, 0.02) init.
    """

    def __init__(self, config: LandmarkGanConfig) -> None:
        super().__init__()
        self.config = config
        self.unet = UNet(3 + 3 + N_LABELS, 3, config.ngf, unet_depth(config.image_size), config.dropout)
        init_normal(self)

    def forward(self, image: torch.Tensor, landmark_image: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        maps = tile_vector(label, self.config.image_size)
        return self.unet(torch.cat([image, landmark_image, maps], dim=1))


class ImageEncoder(nn.Module):
    """G_l's image branch: pix2pix U-Net encoder steps down to 4x4, then the bottleneck FC layer.

    image: Bx3xNxN in [-1, 1] -> BxE embedding (E = config.image_embedding).
    """

    def __init__(self, config: LandmarkGanConfig) -> None:
        super().__init__()
        steps = unet_depth(config.image_size) - 2
        layers = [UNetDown(3, config.width(0), act=False, norm=False)]
        layers += [UNetDown(config.width(i - 1), config.width(i)) for i in range(1, steps)]
        self.convs = nn.Sequential(*layers, nn.LeakyReLU(0.2, inplace=False))
        self.fc = nn.Sequential(nn.Linear(config.width(steps - 1) * 16, config.image_embedding), nn.ReLU(inplace=False))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.fc(self.convs(image).flatten(1))


@register(
    "landmarkgan_landmarks",
    paper=PAPER,
    config=LandmarkGanConfig,
    inputs=(
        InputSpec("image", "image", 3),
        InputSpec("label", "label_onehot", N_LABELS),
        InputSpec("noise", "noise", NOISE_DIM),
    ),
)
class LandmarkGenerator(nn.Module):
    """Stage I, G_l: category-guided landmark generation.

    image: Bx3xNxN in [-1, 1]; label: Bx8 one-hot target expression (optionally scaled by intensity);
    noise: Bx16 standard normal z_1. Returns Bx68x2 target landmarks (x, y) in units of the crop size,
    0..1 (multiply by N for crop pixels) — landmarks, not an image.

    The one-hot label is encoded by two FC layers and concatenated with the image embedding and z_1
    at the bottleneck (section III-A); a two-layer FC head with dropout decodes the 136 coordinates.
    The paper adopts a pre-trained PDM decoder from its ref. [53], which is not available; this head is
    learnt from scratch instead, with a sigmoid keeping the points inside the crop.
    """

    def __init__(self, config: LandmarkGanConfig) -> None:
        super().__init__()
        self.config = config
        self.image_encoder = ImageEncoder(config)
        self.label_encoder = nn.Sequential(
            nn.Linear(N_LABELS, config.label_embedding),
            nn.ReLU(inplace=False),
            nn.Linear(config.label_embedding, config.label_embedding),
            nn.ReLU(inplace=False),
        )
        joint = config.image_embedding + config.label_embedding + NOISE_DIM
        self.head = nn.Sequential(
            nn.Linear(joint, config.image_embedding),
            nn.ReLU(inplace=False),
            nn.Dropout(config.dropout),
            nn.Linear(config.image_embedding, N_LANDMARKS * 2),
            nn.Sigmoid(),
        )
        init_normal(self)

    def forward(self, image: torch.Tensor, label: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        joint = torch.cat([self.image_encoder(image), self.label_encoder(label), noise], dim=1)
        return self.head(joint).view(-1, N_LANDMARKS, 2)
