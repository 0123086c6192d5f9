"""Paper 1 training (Li, Qi & Sun): the generator against an image and a geometry discriminator.

Losses (section III-B), eq. 7: L = 5 L_GAN + 10 L_per + 10 L_pixel (lambda 1..3 from section IV-B),
Adam at 2e-4, normal(0, 0.02) init, batch 16 in the paper.

What papers 1-3 share on the training side (the PatchGAN of Table 3, batch builders, GAN helpers)
is in training.families.common.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain

import torch
import torch.nn.functional as F
from torch import nn

from engine.nets.lgan import LganConfig, LganGenerator
from training.base import FeatureNets, TrainingModel, register_training
from training.families.common import PatchDiscriminator, eval_l1, gan_loss, heatmap_batch, label_map_batch, set_requires_grad


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
        self.fake = self.replica(self.generator)(*self.generator_inputs())
        return self.fake

    def _discriminator_loss(self, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Eq. 4 for D_image and D_geometry (their replicas: this backward trains them)."""
        image, geometry = self.replica(self.d_image), self.replica(self.d_geometry)
        d_image = 0.5 * (
            gan_loss(image(torch.cat([self.src, self.tgt], 1)), True)
            + gan_loss(image(torch.cat([self.src, fake], 1)), False)
        )
        d_geometry = 0.5 * (
            gan_loss(geometry(torch.cat([self.tgt, self.heatmap], 1)), True)
            + gan_loss(geometry(torch.cat([fake, self.heatmap], 1)), False)
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
