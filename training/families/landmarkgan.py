"""LandmarkGAN training (paper 5, Tang & Sebe): stage I landmark generation, stage II landmark-guided
translation, trained together one after the other in every step (section III-C, "Optimization").

Stage I: G_l and its discriminator D_l, loss L_1 = L_cGAN(G_l, D_l) + λ1 L_Landmark (eq. 3-5).
Stage II: G_e and dual discriminators D_e1, D_e2, loss L_2 = L_LGAN + λ2 L_L1,2 + λ3 L_identity
(eq. 6-9). Discriminator losses are halved (section III-B) and use binary cross-entropy. Both
stages train jointly: one generator step minimises L_1 + L_2, and stage II's losses reach G_l
through the landmarks it generated (the landmark image is drawn differentiably inside G_e,
engine.nets.landmarkgan.splat_landmark_image). Labels carry eq. 10's separate intensity label.

Choices where the paper is silent or cannot be followed literally:

* D_l judges the 68 coordinates (an MLP on the 136 numbers, unconditional as in eq. 3).
* "Dual discriminators as in GestureGAN": two 70x70 PatchGANs, D_e1 on (x, y) and D_e2 on
  (x, landmark image, y). D_e2's landmark image is the one of the ground-truth target landmarks, for
  real and generated pairs alike, so it checks the output against the true target geometry.
* Eq. 4 is measured in crop units (coordinates / N), the unit G_l outputs.
* Eq. 8's L1 distance is the mean over embedding dimensions (pix2pix's ``L1Loss``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from engine.nets.blocks import ConvNormAct, init_normal
from engine.nets.landmarkgan import (
    N_LABELS,
    N_LANDMARKS,
    NOISE_DIM,
    ExpressionGenerator,
    LandmarkGanConfig,
    LandmarkGenerator,
    splat_landmark_image,
)
from training.base import FeatureNets, TrainingModel, register_training

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LandmarkGanLoss:
    """Loss weights, discriminator sizes and optimiser settings (paper 5, section III-C).

    lambda_landmark (λ1 = 2), lambda_l12 (λ2 = 100), lambda_identity (λ3 = 0.1): eq. 5 and 9.
    ndf, d_layers: PatchGAN width and depth (pix2pix's 64 and 3 give 70x70 patches).
    landmark_d_width: hidden width of D_l.
    lr, beta1, beta2: Adam, 2e-4, 0.5, 0.999.
    """

    lambda_landmark: float = 2.0
    lambda_l12: float = 100.0
    lambda_identity: float = 0.1
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
        self.label = one_hot * batch["tgt_intensity"].to(self.device)[:, None]  # l_e scaled by l_i (split_label)
        self.noise = torch.randn(self.image.shape[0], NOISE_DIM, device=self.device)  # z_1
        self.target_landmarks = batch["tgt_landmarks"].to(self.device) / n  # l, crop units
        self.target_landmark_image = splat_landmark_image(self.image, self.target_landmarks, self.arch.landmark_radius)

    def forward(self) -> torch.Tensor:
        self.fake_landmarks = self.replica(self.landmark_generator)(self.image, self.label, self.noise)
        self.fake = self.replica(self.generator)(self.image, self.fake_landmarks, self.label)
        return self.fake

    def optimize_parameters(self) -> dict[str, float]:
        """D_l and D_e1, D_e2 on detached fakes, then one joint step of G_l and G_e on L_1 + L_2."""
        fake = self.forward()
        losses = self._discriminator_step(fake.detach())
        for d in (self.landmark_discriminator, self.pair_discriminator, self.triple_discriminator):
            d.requires_grad_(False)
        stage1, losses_1 = self._stage1_loss()
        stage2, losses_2 = self._stage2_loss(fake)
        for name in ("landmark_generator", "generator"):
            self._optimizers[name].zero_grad(set_to_none=True)
        (stage1 + stage2).backward()
        for name in ("landmark_generator", "generator"):
            self._optimizers[name].step()
        for d in (self.landmark_discriminator, self.pair_discriminator, self.triple_discriminator):
            d.requires_grad_(True)
        return losses | losses_1 | losses_2

    def _judge(self, image: torch.Tensor, pair: nn.Module, triple: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
        """D_e1 (``pair``) on (x, image) and D_e2 (``triple``) on (x, target landmark image, image):
        patch logits each. The discriminators' replicas when this backward trains them, else the plain ones."""
        x, cond = self.image, self.target_landmark_image
        return pair(torch.cat([x, image], 1)), triple(torch.cat([x, cond, image], 1))

    def _discriminator_step(self, fake: torch.Tensor) -> dict[str, float]:
        """D_l on real vs generated landmarks, D_e1 and D_e2 on real vs generated images (halved BCE)."""
        d = self.replica(self.landmark_discriminator)
        fake_landmarks = self.fake_landmarks.detach()
        loss_dl = 0.5 * (_gan_loss(d(self.target_landmarks), True) + _gan_loss(d(fake_landmarks), False))
        self._optimizers["landmark_discriminator"].zero_grad(set_to_none=True)
        loss_dl.backward()
        self._optimizers["landmark_discriminator"].step()

        pair, triple = self.replica(self.pair_discriminator), self.replica(self.triple_discriminator)
        real_1, real_2 = self._judge(self.target, pair, triple)
        fake_1, fake_2 = self._judge(fake, pair, triple)
        loss_d1 = 0.5 * (_gan_loss(real_1, True) + _gan_loss(fake_1, False))
        loss_d2 = 0.5 * (_gan_loss(real_2, True) + _gan_loss(fake_2, False))
        self._optimizers["discriminator"].zero_grad(set_to_none=True)
        (loss_d1 + loss_d2).backward()
        self._optimizers["discriminator"].step()
        return {"D_l": loss_dl.item(), "D_e1": loss_d1.item(), "D_e2": loss_d2.item()}

    def _stage1_loss(self) -> tuple[torch.Tensor, dict[str, float]]:
        """Eq. 5: L_cGAN(G_l, D_l) + λ1 L_Landmark."""
        loss_gan = _gan_loss(self.landmark_discriminator(self.fake_landmarks), True)
        loss_lm = landmark_loss(self.fake_landmarks, self.target_landmarks)
        return loss_gan + self.loss.lambda_landmark * loss_lm, {"G_l_gan": loss_gan.item(), "G_l_landmark": loss_lm.item()}

    def _stage2_loss(self, fake: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """Eq. 9: L_LGAN + λ2 L_L1,2 + λ3 L_identity; its gradient reaches G_l through the landmarks."""
        y = self.target
        g_1, g_2 = self._judge(fake, self.pair_discriminator, self.triple_discriminator)
        loss_gan = _gan_loss(g_1, True) + _gan_loss(g_2, True)
        loss_l12 = l12_loss(fake, y)
        total = loss_gan + self.loss.lambda_l12 * loss_l12
        losses = {
            "G_e_gan": loss_gan.item(),
            "G_e_l12": loss_l12.item(),
        }
        if self.features.identity is not None:
            with torch.no_grad():
                real_id = self.features.identity(y)
            loss_id = F.l1_loss(self.features.identity(fake), real_id)
            total = total + self.loss.lambda_identity * loss_id
            losses["G_identity"] = loss_id.item()
        return total, losses

    @torch.no_grad()
    def reconstruction_loss(self) -> float:
        return F.l1_loss(self.forward(), self.target).item()

    @torch.no_grad()
    def generator_inputs(self) -> tuple[torch.Tensor, ...]:
        self.forward()
        return (self.image, self.fake_landmarks, self.label)

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
        drawn = splat_landmark_image(self.image, self.fake_landmarks, self.arch.landmark_radius)
        return {"source": self.image, "landmarks": drawn, "output": fake, "target": self.target}
