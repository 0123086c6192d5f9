"""Paper 1 training (Li, Qi & Sun): the generator against an image and a geometry discriminator.

Losses (section III-B), eq. 7: L = 5 L_GAN + 10 L_per + 10 L_pixel (lambda 1..3 from section IV-B),
Adam at 2e-4, normal(0, 0.02) init, batch 16 in the paper.

This module also holds what papers 1-3 share on the training side: the PatchGAN of Table 3 and the
batch builders for heatmaps and label maps (engine.geometry.conditions per sample).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.geometry import conditions
from engine.nets.blocks import ConvNormAct, init_normal
from engine.nets.lgan import LganConfig, LganGenerator
from training.base import FeatureNets, TrainingModel, register_training


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


@dataclass(frozen=True)
class LganLoss:
    """Eq. 7's weights (gan, perceptual, pixel = lambda 1, 2, 3) and Adam's settings.

    The paper gives the learning rate; betas (0.5, 0.999) are pix2pix's, whose PatchGAN it uses.
    The perceptual term uses ``FeatureNets.perceptual`` (the paper: VGG19 conv1_2) and is off when
    that is None.
    """

    gan: float = 5.0
    perceptual: float = 10.0
    pixel: float = 10.0
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999


@register_training("lgan")
class LganTraining(TrainingModel):
    """G (engine.nets.lgan) with D_image on (source, output) pairs and D_geometry on
    (output, target heatmaps) pairs (section III-A, Table 3). src -> tgt; the conditions are the
    target's landmark heatmaps and label maps."""

    def __init__(self, arch: LganConfig, loss: LganLoss, features: FeatureNets, device: torch.device) -> None:
        super().__init__(arch, loss, features, device)
        self.generator = LganGenerator(arch).to(device)
        self.d_image = PatchDiscriminator(3 + 3).to(device)
        self.d_geometry = PatchDiscriminator(3 + arch.n_landmarks).to(device)
        betas = (loss.beta1, loss.beta2)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=loss.lr, betas=betas)
        self.opt_d = torch.optim.Adam(
            chain(self.d_image.parameters(), self.d_geometry.parameters()), lr=loss.lr, betas=betas
        )

    @classmethod
    def loss_config_cls(cls) -> type:
        return LganLoss

    def set_input(self, batch: dict[str, torch.Tensor]) -> None:
        size = self.arch.image_size
        self.src = batch["src_image"].to(self.device)
        self.tgt = batch["tgt_image"].to(self.device)
        self.heatmap = heatmap_batch(batch["tgt_landmarks"], size).to(self.device)
        labels = label_map_batch(batch["tgt_label"], batch["tgt_intensity"], self.arch.n_labels, size)
        self.labels = labels.to(self.device)

    def generator_inputs(self) -> tuple[torch.Tensor, ...]:
        return self.src, self.heatmap, self.labels

    def forward(self) -> torch.Tensor:
        self.fake = self.generator(*self.generator_inputs())
        return self.fake

    def _discriminator_loss(self, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        d_image = 0.5 * (
            gan_loss(self.d_image(torch.cat([self.src, self.tgt], 1)), True)
            + gan_loss(self.d_image(torch.cat([self.src, fake], 1)), False)
        )
        d_geometry = 0.5 * (
            gan_loss(self.d_geometry(torch.cat([self.tgt, self.heatmap], 1)), True)
            + gan_loss(self.d_geometry(torch.cat([fake, self.heatmap], 1)), False)
        )
        return d_image, d_geometry

    def optimize_parameters(self) -> dict[str, float]:
        fake = self.forward()
        discriminators = [self.d_image, self.d_geometry]

        set_requires_grad(discriminators, True)
        self.opt_d.zero_grad(set_to_none=True)
        d_image, d_geometry = self._discriminator_loss(fake.detach())
        (d_image + d_geometry).backward()
        self.opt_d.step()

        set_requires_grad(discriminators, False)
        self.opt_g.zero_grad(set_to_none=True)
        # L_GAN: the mean over the two discriminators, so that lambda_1 weighs one adversarial term.
        g_gan = 0.5 * (
            gan_loss(self.d_image(torch.cat([self.src, fake], 1)), True)
            + gan_loss(self.d_geometry(torch.cat([fake, self.heatmap], 1)), True)
        )
        g_pixel = F.l1_loss(fake, self.tgt)
        perceptual = self.features.perceptual
        if perceptual is not None:
            w_perceptual = self.loss.perceptual
            with torch.no_grad():
                target_features = perceptual(self.tgt)
            g_perceptual = F.l1_loss(perceptual(fake), target_features)
        else:
            w_perceptual = 0.0
            g_perceptual = torch.zeros((), device=self.device)
        total = self.loss.gan * g_gan + w_perceptual * g_perceptual + self.loss.pixel * g_pixel
        total.backward()
        self.opt_g.step()

        return {
            "D_image": d_image.item(),
            "D_geometry": d_geometry.item(),
            "G_gan": g_gan.item(),
            "G_pixel": g_pixel.item(),
            "G_perceptual": g_perceptual.item(),
            "w_perceptual": float(w_perceptual),
            "G_total": total.item(),
        }

    def reconstruction_loss(self) -> float:
        return eval_l1(self.generator, self.generator_inputs(), self.tgt)

    def networks(self) -> dict[str, nn.Module]:
        return {"generator": self.generator, "d_image": self.d_image, "d_geometry": self.d_geometry}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"generator": self.opt_g, "discriminator": self.opt_d}

    def visuals(self) -> dict[str, torch.Tensor]:
        return {"source": self.src, "output": self.fake.detach(), "target": self.tgt}
