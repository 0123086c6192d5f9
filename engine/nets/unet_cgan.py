"""Paper 3: Wang, Li, Mu, Huang & Wang, "U-Net Conditional GANs for Photo-Realistic and
Identity-Preserving Facial Expression Synthesis" (ACM TOMM) - the generator.

The text we have is the abstract: a U-Net keeps the input's identity and details, and a category
condition makes one network produce every expression from one neutral face (one-to-many). We take
what its authors, who build on pix2pix and cite cGAN and StarGAN, would take: pix2pix's U-Net with
the category spread into constant maps and concatenated with the image at the input (StarGAN's
conditioning). The maps are paper 1's label maps (one per expression, the chosen one at
2 * intensity - 1, the rest at -1), so the runtime builds them the same way for both families.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from engine.geometry.labels import EXPRESSIONS
from engine.nets.blocks import UNet, init_normal, unet_depth
from engine.nets.registry import InputSpec, register


@dataclass(frozen=True)
class UnetCganConfig:
    """pix2pix's U-Net (log2(image_size) downsamplings, ngf = 64, dropout 0.5) on image + label maps."""

    image_size: int = 128
    n_labels: int = len(EXPRESSIONS)
    ngf: int = 64
    dropout: float = 0.5

    def __post_init__(self) -> None:
        unet_depth(self.image_size)


@register(
    "unet_cgan",
    paper="Wang et al.: U-Net Conditional GANs for Photo-Realistic and Identity-Preserving Facial Expression Synthesis",
    config=UnetCganConfig,
    inputs=(InputSpec("image", "image", 3), InputSpec("labels", "label_maps", len(EXPRESSIONS))),
)
class UnetCganGenerator(nn.Module):
    """Label-conditioned U-Net G: one neutral face + a category -> that face showing the category.

    image: (B, 3, N, N) RGB in [-1, 1], the neutral face.
    labels: (B, L, N, N) label maps in [-1, 1] of the target expression.
    Returns (B, 3, N, N) in [-1, 1].
    """

    def __init__(self, config: UnetCganConfig) -> None:
        super().__init__()
        self.config = config
        self.unet = UNet(3 + config.n_labels, 3, config.ngf, unet_depth(config.image_size), config.dropout)
        init_normal(self)

    def forward(self, image: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.unet(torch.cat([image, labels], dim=1))
