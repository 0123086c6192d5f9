"""LandmarkGAN training (paper 5, Tang & Sebe): stage I landmark generation, stage II landmark-guided
translation, trained together one after the other in every step (section III-C, "Optimization").

Stage I: G_l and its discriminator D_l, loss L_1 = L_cGAN(G_l, D_l) + λ1 L_Landmark (eq. 3-5).
Stage II: G_e and dual discriminators D_e1, D_e2, loss L_2 = L_LGAN + λ2 L_L1,2 + λ3 L_identity
(eq. 6-9). Discriminator losses are halved (section III-B) and use binary cross-entropy.

Choices where the paper is silent or cannot be followed literally:

* D_l judges the 68 coordinates (an MLP on the 136 numbers, unconditional as in eq. 3): landmarks
  are coordinates, and the coloured landmark image is drawn with OpenCV, which has no gradient.
* Stage II sees the landmark image rendered from G_l's (detached) landmarks with the source photo's
  colours — the same ``engine.geometry.conditions.landmark_image`` the runtime calls.
* "Dual discriminators as in GestureGAN": two 70x70 PatchGANs, D_e1 on (x, y) and D_e2 on
  (x, landmark image, y). D_e2's landmark image is the one of the ground-truth target landmarks, for
  real and generated pairs alike, so it checks the output against the true target geometry.
* Eq. 4 is measured in crop units (coordinates / N), the unit G_l outputs.
* Eq. 8's L1 distance is the mean over embedding dimensions (pix2pix's ``L1Loss``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.geometry.conditions import from_unit_range, landmark_image, to_unit_range
from engine.nets.blocks import ConvNormAct, init_normal
from engine.nets.landmarkgan import (
    N_LABELS,
    N_LANDMARKS,
    NOISE_DIM,
    ExpressionGenerator,
    LandmarkGanConfig,
    LandmarkGenerator,
)
from training.base import FeatureNets, TrainingModel, register_training

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LandmarkGanLoss:
    """Loss weights, discriminator sizes and optimiser settings (paper 5, section III-C).

    lambda_landmark (λ1 = 2), lambda_l12 (λ2 = 100), lambda_identity (λ3 = 0.1): eq. 5 and 9.
    landmark_radius: S_l = 4, radius in crop pixels of the dots of the coloured landmark image; the
        runtime draws with the same radius (engine.geometry.conditions.landmark_image's default).
    ndf, d_layers: PatchGAN width and depth (pix2pix's 64 and 3 give 70x70 patches).
    landmark_d_width: hidden width of D_l.
    lr, beta1, beta2: Adam, 2e-4, 0.5, 0.999.
    """

    lambda_landmark: float = 2.0
    lambda_l12: float = 100.0
    lambda_identity: float = 0.1
    landmark_radius: int = 4
    ndf: int = 64
    d_layers: int = 3
    landmark_d_width: int = 256
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999


class PatchDiscriminator(nn.Module):
    """pix2pix's PatchGAN: BxCxNxN -> Bx1xMxM logits, one per (70x70 at d_layers = 3) patch.

    4x4 convolutions, stride 2 for the first ``d_layers``, then stride 1; batch norm except on the
    first and last; leaky ReLU 0.2. The sigmoid of section III-C is inside the BCE-with-logits loss.
    """

    def __init__(self, in_channels: int, ndf: int, d_layers: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [ConvNormAct(in_channels, ndf, 4, stride=2, padding=1, norm=False, act="lrelu")]
        width = ndf
        for i in range(1, d_layers + 1):
            out = ndf * min(2**i, 8)
            layers.append(ConvNormAct(width, out, 4, stride=2 if i < d_layers else 1, padding=1, act="lrelu"))
            width = out
        layers.append(nn.Conv2d(width, 1, 4, stride=1, padding=1))
        self.body = nn.Sequential(*layers)
        init_normal(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class LandmarkDiscriminator(nn.Module):
    """D_l: landmarks Bx68x2 (crop units) -> Bx1 logit, real target shape vs G_l's."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(N_LANDMARKS * 2, width),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(width, width),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(width, 1),
        )

    def forward(self, landmarks: torch.Tensor) -> torch.Tensor:
        return self.body(landmarks.flatten(1))


def landmark_loss(fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Eq. 4: mean Euclidean distance between corresponding points; Bx68x2 each (zero gradient where equal)."""
    return torch.linalg.vector_norm(fake - real, dim=-1).mean()


def l12_loss(fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Eq. 7: 0.5 d^2 where |d| < 1, |d| - 0.5 elsewhere, per pixel, averaged (Huber with delta 1)."""
    return F.smooth_l1_loss(fake, real, beta=1.0)


def render_landmark_images(images: torch.Tensor, landmarks: torch.Tensor, radius: int) -> torch.Tensor:
    """Coloured landmark images (section III-A) through the runtime's renderer.

    images: Bx3xNxN RGB in [-1, 1] (the colours); landmarks: Bx68x2 crop pixels.
    Returns Bx3xNxN RGB in [-1, 1] on the images' device; no gradient.
    """
    out = []
    for image, points in zip(images.detach().cpu().numpy(), landmarks.detach().cpu().numpy()):
        out.append(to_unit_range(landmark_image(from_unit_range(image), points, radius)))
    return torch.from_numpy(np.stack(out)).to(images.device)


def _gan_loss(logits: torch.Tensor, real: bool) -> torch.Tensor:
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, target)


@register_training("landmarkgan")
class LandmarkGanModel(TrainingModel):
    """LandmarkGAN's networks and optimisers. ``generator`` is stage II (G_e, exported as the model);
    ``landmark_generator`` is stage I (G_l, exported as the auxiliary "landmarks" network).

    ``features.identity`` is F of eq. 8; without it that term is off, logged, and listed in
    :attr:`inactive_losses`.
    """

    def __init__(
        self, arch: LandmarkGanConfig, loss: LandmarkGanLoss, features: FeatureNets, device: torch.device
    ) -> None:
        super().__init__(arch, loss, features, device)
        self.generator = ExpressionGenerator(arch).to(device)
        self.landmark_generator = LandmarkGenerator(arch).to(device)
        self.landmark_discriminator = LandmarkDiscriminator(loss.landmark_d_width).to(device)
        self.pair_discriminator = PatchDiscriminator(6, loss.ndf, loss.d_layers).to(device)
        self.triple_discriminator = PatchDiscriminator(9, loss.ndf, loss.d_layers).to(device)
        self.inactive_losses: dict[str, str] = {}
        if features.identity is None:
            self.inactive_losses["G_identity"] = "off: no identity network (FeatureNets.identity is None)"
            log.info("landmarkgan: face identity distance loss (eq. 8) is off: no identity network")

        def adam(*modules: nn.Module) -> torch.optim.Adam:
            params = [p for m in modules for p in m.parameters()]
            return torch.optim.Adam(params, lr=loss.lr, betas=(loss.beta1, loss.beta2))

        self._optimizers = {
            "landmark_generator": adam(self.landmark_generator),
            "landmark_discriminator": adam(self.landmark_discriminator),
            "generator": adam(self.generator),
            "discriminator": adam(self.pair_discriminator, self.triple_discriminator),
        }

    @classmethod
    def loss_config_cls(cls) -> type:
        return LandmarkGanLoss

    def set_input(self, batch: dict[str, torch.Tensor]) -> None:
        n = self.arch.image_size
        self.image = batch["src_image"].to(self.device)  # x
        self.target = batch["tgt_image"].to(self.device)  # y
        one_hot = F.one_hot(batch["tgt_label"].to(self.device), N_LABELS).float()
        self.label = one_hot * batch["tgt_intensity"].to(self.device)[:, None]  # l_e
        self.noise = torch.randn(self.image.shape[0], NOISE_DIM, device=self.device)  # z_1
        target_px = batch["tgt_landmarks"].to(self.device)
        self.target_landmarks = target_px / n  # l, crop units
        self.target_landmark_image = render_landmark_images(self.image, target_px, self.loss.landmark_radius)

    def _stage1(self) -> torch.Tensor:
        self.fake_landmarks = self.landmark_generator(self.image, self.label, self.noise)
        self.landmark_image = render_landmark_images(
            self.image, self.fake_landmarks.detach() * self.arch.image_size, self.loss.landmark_radius
        )
        return self.fake_landmarks

    def forward(self) -> torch.Tensor:
        self._stage1()
        self.fake = self.generator(self.image, self.landmark_image, self.label)
        return self.fake

    def optimize_parameters(self) -> dict[str, float]:
        return self._stage1_step() | self._stage2_step()

    def _stage1_step(self) -> dict[str, float]:
        """D_l, then G_l with eq. 5 (G_e and D_e untouched)."""
        fake = self._stage1()
        d = self.landmark_discriminator
        d.requires_grad_(True)
        loss_d = 0.5 * (_gan_loss(d(self.target_landmarks), True) + _gan_loss(d(fake.detach()), False))
        self._optimizers["landmark_discriminator"].zero_grad(set_to_none=True)
        loss_d.backward()
        self._optimizers["landmark_discriminator"].step()

        d.requires_grad_(False)
        loss_gan = _gan_loss(d(fake), True)
        loss_lm = landmark_loss(fake, self.target_landmarks)
        self._optimizers["landmark_generator"].zero_grad(set_to_none=True)
        (loss_gan + self.loss.lambda_landmark * loss_lm).backward()
        self._optimizers["landmark_generator"].step()
        return {"D_l": loss_d.item(), "G_l_gan": loss_gan.item(), "G_l_landmark": loss_lm.item()}

    def _stage2_step(self) -> dict[str, float]:
        """D_e1 and D_e2, then G_e with eq. 9 (G_l and D_l untouched)."""
        x, y, cond = self.image, self.target, self.target_landmark_image
        fake = self.generator(x, self.landmark_image, self.label)
        self.fake = fake
        pair, triple = self.pair_discriminator, self.triple_discriminator

        def judge(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return pair(torch.cat([x, image], 1)), triple(torch.cat([x, cond, image], 1))

        for d in (pair, triple):
            d.requires_grad_(True)
        real_1, real_2 = judge(y)
        fake_1, fake_2 = judge(fake.detach())
        loss_d1 = 0.5 * (_gan_loss(real_1, True) + _gan_loss(fake_1, False))
        loss_d2 = 0.5 * (_gan_loss(real_2, True) + _gan_loss(fake_2, False))
        self._optimizers["discriminator"].zero_grad(set_to_none=True)
        (loss_d1 + loss_d2).backward()
        self._optimizers["discriminator"].step()

        for d in (pair, triple):
            d.requires_grad_(False)
        g_1, g_2 = judge(fake)
        loss_gan = _gan_loss(g_1, True) + _gan_loss(g_2, True)
        loss_l12 = l12_loss(fake, y)
        total = loss_gan + self.loss.lambda_l12 * loss_l12
        losses = {
            "D_e1": loss_d1.item(),
            "D_e2": loss_d2.item(),
            "G_e_gan": loss_gan.item(),
            "G_e_l12": loss_l12.item(),
        }
        if self.features.identity is not None:
            with torch.no_grad():
                real_id = self.features.identity(y)
            loss_id = F.l1_loss(self.features.identity(fake), real_id)
            total = total + self.loss.lambda_identity * loss_id
            losses["G_identity"] = loss_id.item()
        self._optimizers["generator"].zero_grad(set_to_none=True)
        total.backward()
        self._optimizers["generator"].step()
        return losses

    @torch.no_grad()
    def reconstruction_loss(self) -> float:
        return F.l1_loss(self.forward(), self.target).item()

    @torch.no_grad()
    def generator_inputs(self) -> tuple[torch.Tensor, ...]:
        self._stage1()
        return (self.image, self.landmark_image, self.label)

    def auxiliary_networks(self) -> dict[str, tuple[str, nn.Module, tuple[torch.Tensor, ...]]]:
        """Role -> (engine.nets family, network, its inputs for the current batch), exported beside the generator."""
        return {"landmarks": ("landmarkgan_landmarks", self.landmark_generator, (self.image, self.label, self.noise))}

    def networks(self) -> dict[str, nn.Module]:
        return {
            "generator": self.generator,
            "landmark_generator": self.landmark_generator,
            "landmark_discriminator": self.landmark_discriminator,
            "pair_discriminator": self.pair_discriminator,
            "triple_discriminator": self.triple_discriminator,
        }

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return dict(self._optimizers)

    @torch.no_grad()
    def visuals(self) -> dict[str, torch.Tensor]:
        fake = self.forward()
        return {"source": self.image, "landmarks": self.landmark_image, "output": fake, "target": self.target}
