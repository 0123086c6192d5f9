"""Warp-guided refiner: the product's default learned generator (the warp moves, the network paints).

The engine's mesh warp (:mod:`engine.synthesis.warp`) puts every pixel where the target geometry
wants it; what a warp cannot make — the inside of an opened mouth (teeth, gums, tongue, inner-lip
shading), creases (nasolabial folds, crow's feet, brow furrows), cheek and eyelid shading — is
painted by this network. It follows two lines of prior work:

* Geng et al., "Warp-guided GANs for single-photo facial animation" (SIGGRAPH Asia 2018): a refiner
  on the warped photo conditioned on the target geometry. Their separate mouth-interior network is
  folded into this one: the mouth is given as its own guidance channel and weighted in the loss
  (``training/families/warpguided.py``), because at 256 px the face crop already draws the mouth at
  the size a user sees it (measured: docs/results.md, "Resolution").
* Pumarola et al., GANimation (ECCV 2018): the network outputs a colour image C and an attention
  mask A; the result is ``A * C + (1 - A) * warped``, so pixels the network does not need to change
  stay exactly the warp's, and the runtime pastes only the changed region back at the photo's full
  resolution.

From the seed papers: the encoder-decoder with skip connections is paper 3's U-Net (pix2pix's
``unet_256`` layout; measured at 132 ms per forward + backward at batch 4 on this CPU against
432 ms for a variant with full-resolution 3x3 convs, which the training budget cannot afford); the geometry enters as paper 2's fiducial guidance (here
rendered contours of the target's 478-point mesh, :mod:`engine.synthesis.guidance`, cheaper per
frame than 68 Gaussian heatmaps at 256 px); paper 1's and pix2pix's PatchGAN, L1, adversarial and
perceptual losses train it. The papers are silent on a refiner's widths; 32 base channels is the
largest that keeps the live target (30 fps on a 2-core CPU) and is what the brief measured.

    image     (B, 3, N, N) the target crop already mesh-warped to the driven geometry, RGB in [-1, 1]
    guidance  (B, 3, N, N) the driven geometry (mouth interior, feature contours, face region), [0, 1]
    returns   (B, 4, N, N): channels 0-2 the composed image ``A*C + (1-A)*image`` in [-1, 1],
              channel 3 the attention mask A in [0, 1]
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from engine.nets.blocks import UNet, init_normal
from engine.nets.registry import InputSpec, register

GUIDANCE_CHANNELS = 3


@dataclass(frozen=True)
class WarpGuidedConfig:
    """image_size: N (a power of two, >= 64); ngf: base width; num_downs: stride-2 steps
    (log2 N takes the bottleneck to 1 x 1, pix2pix's ``unet_256``); max_mult: widths stop growing at
    max_mult * ngf (pix2pix: 8, 13.6 M parameters at ngf 32; 4 gives 3.6 M, which keeps the shipped
    ONNX + safetensors under 30 MB: a refiner's work is local, the deep layers matter least)."""

    image_size: int = 256
    ngf: int = 32
    num_downs: int = 8
    max_mult: int = 4

    def __post_init__(self) -> None:
        if self.image_size < 64 or self.image_size & (self.image_size - 1):
            raise ValueError(f"image_size must be a power of two >= 64, got {self.image_size}")
        if not 5 <= self.num_downs or self.image_size >> self.num_downs < 1:
            raise ValueError(f"num_downs {self.num_downs} does not fit image_size {self.image_size}")


@register(
    "warpguided",
    paper="Warp-guided refiner with attention (Geng et al. 2018; Pumarola et al. 2018) on the seed papers' "
    "U-Net, fiducial guidance and PatchGAN losses",
    config=WarpGuidedConfig,
    inputs=(InputSpec("image", "image", 3), InputSpec("guidance", "guidance", GUIDANCE_CHANNELS)),
    outputs=("image", "attention"),
)
class WarpGuidedGenerator(nn.Module):
    """pix2pix U-Net with a colour head and an attention head (see the module docstring for shapes).

    The U-Net's last layer gives 4 tanh channels: colour C = channels 0-2, attention
    A = (channel 3 + 1) / 2 (a sigmoid of twice the pre-activation). Dropout is off: the refiner is
    deterministic, as the runtime runs it.
    """

    def __init__(self, config: WarpGuidedConfig) -> None:
        super().__init__()
        self.config = config
        self.unet = UNet(3 + GUIDANCE_CHANNELS, 4, config.ngf, config.num_downs, dropout=0.0, max_mult=config.max_mult)
        init_normal(self)
        # Start from "change nothing": the attention pre-activation starts at -2 (A ~ 0.02), so early
        # training leaves the warp intact and learns where changes pay off.
        last = self.unet.ups[-1][1]
        with torch.no_grad():
            last.bias.zero_()
            last.bias[3] = -2.0

    def forward(self, image: torch.Tensor, guidance: torch.Tensor) -> torch.Tensor:
        out = self.unet(torch.cat([image, guidance], dim=1))
        colour = out[:, :3]
        mask = (out[:, 3:4] + 1.0) * 0.5
        composed = mask * colour + (1.0 - mask) * image
        return torch.cat([composed, mask], dim=1)
