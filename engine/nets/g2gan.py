"""Paper 2: Song, Lu, He, Sun & Tan, "Geometry Guided Adversarial Facial Expression Synthesis"
(G2-GAN, ACM MM 2018) - the two generators.

    G_S  expression synthesis:  (I^N, H^E) -> fake I^E
    G_R  expression removal:    (I^E, H^E) -> fake I^N

Both "take the architecture of U-Net" adapted from pix2pix (section 4.2), with the face image and
the 68-channel landmark heatmap concatenated at the input. H^E is the heatmap of the expressioned
face in both: it specifies the target for G_S and "indicates the state of I^E" for G_R
(section 3.1). The paper normalises images to [0, 1]; FES Desktop's generators all use [-1, 1]
images with a tanh output, heatmaps stay in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from engine.nets.blocks import UNet, init_normal, unet_depth
from engine.nets.registry import InputSpec, register

PAPER = "Song et al.: Geometry Guided Adversarial Facial Expression Synthesis (G2-GAN)"


@dataclass(frozen=True)
class G2ganConfig:
    """Architecture of both G2-GAN generators: pix2pix's U-Net with log2(image_size) downsamplings
    (``unet_128`` at 128 px), ngf = 64 and dropout 0.5 in the innermost 8ngf decoder steps."""

    image_size: int = 128
    n_landmarks: int = 68
    ngf: int = 64
    dropout: float = 0.5

    def __post_init__(self) -> None:
        unet_depth(self.image_size)


class HeatmapUNet(nn.Module):
    """U-Net on an image concatenated with its landmark heatmaps.

    image: (B, 3, N, N) RGB in [-1, 1]. heatmap: (B, 68, N, N) in [0, 1].
    Returns (B, 3, N, N) in [-1, 1].
    """

    def __init__(self, config: G2ganConfig) -> None:
        super().__init__()
        self.config = config
        self.unet = UNet(3 + config.n_landmarks, 3, config.ngf, unet_depth(config.image_size), config.dropout)
        init_normal(self)

    def forward(self, image: torch.Tensor, heatmap: torch.Tensor) -> torch.Tensor:
        return self.unet(torch.cat([image, heatmap], dim=1))


@register(
    "g2gan",
    paper=PAPER,
    config=G2ganConfig,
    inputs=(InputSpec("image", "image", 3), InputSpec("heatmap", "heatmap68", 68)),
)
class ExpressionSynthesisGenerator(HeatmapUNet):
    """G_S: a neutral face and the target expression's heatmaps -> the face showing that expression.

    image: (B, 3, N, N) the neutral face I^N. heatmap: (B, 68, N, N) heatmaps of the target shape H^E.
    """


@register(
    "g2gan_removal",
    paper=PAPER,
    config=G2ganConfig,
    inputs=(InputSpec("image", "image", 3), InputSpec("heatmap", "heatmap68", 68)),
)
class ExpressionRemovalGenerator(HeatmapUNet):
    """G_R: an expressioned face and its own heatmaps -> the same face with a neutral expression.

    image: (B, 3, N, N) the expressioned face I^E. heatmap: (B, 68, N, N) heatmaps of I^E's landmarks.
    """
