"""What the training side of papers 1-3 shares: the PatchGAN of paper 1's Table 3, the batch
builders for heatmaps and label maps (engine.geometry.conditions per sample) and small GAN helpers."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.geometry import conditions
from engine.nets.blocks import ConvNormAct, init_normal


class PatchDiscriminator(nn.Module):
    """Paper 1, Table 3 (pix2pix's 70 x 70 PatchGAN, ``n_layers`` = 3).

    x: (B, in_channels, N, N) -> logits (B, 1, N/8 - 2, N/8 - 2): at N = 128 the layers give
    64x64x64, 32x32x128, 16x16x256, 15x15x512, 14x14x1. Table 3 ends on BatchNorm5 + Sigmoid; we
    return logits and apply the sigmoid inside the BCE (same eq. 4, numerically stable) and leave
    BatchNorm5 out: a batch norm on a one-channel output over an all-real or all-fake batch
    normalises the very mean the discriminator has to move, so it could not separate the two.
    """

    def __init__(self, in_channels: int, ndf: int = 64, n_layers: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = [ConvNormAct(in_channels, ndf, 4, 2, 1, norm=False, act="lrelu")]
        width = ndf
        for i in range(1, n_layers):
            out = ndf * min(2**i, 8)
            layers.append(ConvNormAct(width, out, 4, 2, 1, act="lrelu"))
            width = out
        out = ndf * min(2**n_layers, 8)
        layers += [ConvNormAct(width, out, 4, 1, 1, act="lrelu"), nn.Conv2d(out, 1, 4, 1, 1)]
        self.layers = nn.Sequential(*layers)
        init_normal(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def heatmap_batch(landmarks: torch.Tensor, size: int) -> torch.Tensor:
    """(B, 68, 2) crop-pixel landmarks -> (B, 68, size, size) heatmaps in [0, 1] on the same device."""
    maps = [conditions.heatmaps68(points, size) for points in landmarks.detach().cpu().numpy()]
    return torch.from_numpy(np.stack(maps)).to(landmarks.device)


def label_map_batch(labels: torch.Tensor, intensity: torch.Tensor, n_labels: int, size: int) -> torch.Tensor:
    """(B,) label indices and (B,) intensities -> (B, n_labels, size, size) label maps in [-1, 1]."""
    maps = [
        conditions.label_maps(int(label), n_labels, size, float(strength))
        for label, strength in zip(labels.cpu().tolist(), intensity.cpu().tolist())
    ]
    return torch.from_numpy(np.stack(maps)).to(labels.device)


def gan_loss(logits: torch.Tensor, real: bool) -> torch.Tensor:
    """The log loss of eq. 4 on discriminator logits: real targets 1, generated 0."""
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, target)


def set_requires_grad(networks: list[nn.Module], flag: bool) -> None:
    """Freeze (False) or unfreeze the discriminators around the generator step (pix2pix)."""
    for net in networks:
        for p in net.parameters():
            p.requires_grad_(flag)


@torch.no_grad()
def eval_l1(generator: nn.Module, inputs: tuple[torch.Tensor, ...], target: torch.Tensor) -> float:
    """Mean |G(inputs) - target| with the generator in eval mode (as exported); restores its mode."""
    was_training = generator.training
    generator.eval()
    out = generator(*inputs)
    generator.train(was_training)
    return float(F.l1_loss(out, target))
