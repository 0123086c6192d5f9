"""LandmarkGAN (paper 5, Tang & Sebe, "Facial Expression Translation using Landmark Guided GANs").

Two generators, run one after the other:

* Stage I, G_l (:class:`LandmarkGenerator`, family ``landmarkgan_landmarks``): the photo, the target
  expression label l_e, the separate intensity label l_i of eq. 10 and noise z_1 -> the 68 target
  landmarks, (B, 68, 2) in units of the crop size (0..1). The label embedding joins the image
  embedding "at the bottleneck fully connected layer" (section III-A). The output is landmarks.
* Stage II, G_e (:class:`ExpressionGenerator`, family ``landmarkgan``): the photo, the 68 target
  landmarks (crop units), l_e and l_i -> the photo with the target expression. The coloured landmark
  image of section III-A is drawn inside the network by :func:`splat_landmark_image` (Gaussian dots
  coloured from the photo), which is differentiable in the landmarks, so stage II's losses reach
  G_l in joint training and the runtime and training draw the very same image. pix2pix U-Net.

At run time the app runs stage I and feeds its output straight to stage II (kind ``landmarks``:
crop pixels / N); dragged landmarks go to stage II the same way. A model folder ships stage II as
``model.onnx`` and stage I under the manifest's ``auxiliary = {"landmarks": "landmarks"}``; both
families share :class:`LandmarkGanConfig`, so the manifest's one ``architecture`` rebuilds either.

Label input: both stages take one (L,) vector, the one-hot label scaled by the intensity (InputSpec
kind ``label_onehot``, what the runtime fills). :func:`split_label` recovers from it the one-hot l_e
and eq. 10's intensity label l_i, a one-hot over :data:`INTENSITY_LEVELS` (soft between two
neighbouring levels), so the intensity enters as its own label, not as a scaled one-hot. Noise: the paper feeds z_2 only through dropout (pix2pix), so stage II has no
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
INTENSITY_LEVELS = (0.375, 0.75, 1.125, 1.5)  # four levels of 0..1.5, as 3DFE's four (paper 5, eq. 10)
N_INTENSITY = len(INTENSITY_LEVELS)


def split_label(label: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Bx8 one-hot scaled by intensity -> (Bx8 one-hot l_e, Bx4 intensity label l_i of eq. 10).

    l_i is the one-hot of the intensity level, linearly shared between the two nearest levels for
    intensities between them; intensity 0 gives an all-zero l_i (and l_e).
    """
    intensity = label.sum(dim=1, keepdim=True)
    one_hot = label / intensity.clamp(min=1e-6)
    step = INTENSITY_LEVELS[0]  # evenly spaced levels: step, 2 step, ...
    levels = (torch.arange(N_INTENSITY, dtype=label.dtype, device=label.device)[None] + 1.0) * step
    level = torch.relu(1.0 - (intensity.clamp(0.0, INTENSITY_LEVELS[-1]) - levels).abs() / step)
    return one_hot, level


def splat_landmark_image(image: torch.Tensor, landmarks: torch.Tensor, radius: float) -> torch.Tensor:
    """Differentiable coloured landmark image (section III-A): a Gaussian dot per landmark on white.

    image: Bx3xNxN in [-1, 1]; landmarks: BxKx2 (x, y) in crop units (pixel = value * N, pixel
    centres at integers); radius: S_l in pixels (the Gaussian's sigma is radius / 2). Each dot has the
    photo's mean colour under it. Returns Bx3xNxN in [-1, 1], differentiable in both inputs.
    """
    n = image.shape[-1]
    sigma = radius / 2.0
    grid = torch.arange(n, dtype=image.dtype, device=image.device)
    pts = landmarks * n
    gx = torch.exp(-((grid[None, None] - pts[..., :1]) ** 2) / (2 * sigma**2))  # BxKxN (x)
    gy = torch.exp(-((grid[None, None] - pts[..., 1:]) ** 2) / (2 * sigma**2))  # BxKxN (y)
    mass = gx.sum(-1) * gy.sum(-1)  # BxK
    colour = torch.einsum("bky,bkx,bcyx->bkc", gy, gx, image) / mass.clamp(min=1e-6)[..., None]
    weight = torch.einsum("bky,bkx->byx", gy, gx)[:, None]
    painted = torch.einsum("bky,bkx,bkc->bcyx", gy, gx, colour) / weight.clamp(min=1e-6)
    alpha = 1.0 - torch.exp(-3.0 * weight)
    return alpha * painted + (1.0 - alpha)


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
    landmark_radius: float = 4.0

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
        InputSpec("landmarks", "landmarks", N_LANDMARKS),
        InputSpec("label", "label_onehot", N_LABELS),
    ),
)
class ExpressionGenerator(nn.Module):
    """Stage II, G_e: landmark-guided expression-to-expression translation.

    image: Bx3xNxN in [-1, 1], the photo to edit; landmarks: Bx68x2 target landmarks in crop units;
    label: Bx8 one-hot target expression scaled by intensity. Returns Bx3xNxN in [-1, 1].

    The network is pix2pix's U-Net (engine.nets.blocks.UNet) on the 18-channel concatenation of the
    photo, the coloured landmark image (:func:`splat_landmark_image`) and l_e, l_i tiled to constant
    maps (eq. 10's x-hat); pix2pix's N(0, 0.02) init.
    """

    def __init__(self, config: LandmarkGanConfig) -> None:
        super().__init__()
        self.config = config
        self.unet = UNet(3 + 3 + N_LABELS + N_INTENSITY, 3, config.ngf, unet_depth(config.image_size), config.dropout)
        init_normal(self)

    def forward(self, image: torch.Tensor, landmarks: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        return self.unet(torch.cat([image, *self.conditions(image, landmarks, label)], dim=1))

    def conditions(self, image: torch.Tensor, landmarks: torch.Tensor, label: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(Bx3xNxN landmark image, Bx12xNxN tiled l_e and l_i): what joins the photo at the input."""
        one_hot, level = split_label(label)
        maps = tile_vector(torch.cat([one_hot, level], dim=1), self.config.image_size)
        return splat_landmark_image(image, landmarks, self.config.landmark_radius), maps


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

    image: Bx3xNxN in [-1, 1]; label: Bx8 one-hot target expression scaled by intensity (split into
    l_e and l_i by :func:`split_label`); noise: Bx16 standard normal z_1. Returns Bx68x2 target landmarks (x, y) in units of the crop size,
    0..1 (multiply by N for crop pixels) — landmarks, not an image.

    [l_e, l_i] is encoded by two FC layers and concatenated with the image embedding and z_1
    at the bottleneck (section III-A); a two-layer FC head with dropout decodes the 136 coordinates.
    The paper adopts a pre-trained PDM decoder from its ref. [53], which is not available; this head is
    learnt from scratch instead, with a sigmoid keeping the points inside the crop.
    """

    def __init__(self, config: LandmarkGanConfig) -> None:
        super().__init__()
        self.config = config
        self.image_encoder = ImageEncoder(config)
        self.label_encoder = nn.Sequential(
            nn.Linear(N_LABELS + N_INTENSITY, config.label_embedding),
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
        labels = torch.cat(split_label(label), dim=1)
        joint = torch.cat([self.image_encoder(image), self.label_encoder(labels), noise], dim=1)
        return self.head(joint).view(-1, N_LANDMARKS, 2)
