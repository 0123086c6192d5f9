"""Paper 2 training (G2-GAN, Song et al.): synthesis and removal generators trained together.

    G_S(I^N, H^E) -> I^E,  D_S tells real (I^N, H^E, I^E) from generated (I^N, H^E, G_S(I^N, H^E)) triplets
    G_R(I^E, H^E) -> I^N,  D_R tells real (I^E, H^E, I^N) from generated (I^E, H^E, G_R(I^E, H^E)) triplets

The batch's source is the neutral face I^N and its target the expressioned face I^E (the G2-GAN
datasets pair each sequence's first frame with its peak frames); H^E is built from tgt_landmarks.
Loss (section 3.1, 4.2): L_GAN + 10 L_pixel + 5 L_cyc + lambda_ip L_ip, lambda_ip rising from 0.1
to 0.5 during training; Adam at 2e-4, batch 5 in the paper, PatchGAN discriminators.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain

import torch
import torch.nn.functional as F
from torch import nn

from engine.nets.g2gan import ExpressionRemovalGenerator, ExpressionSynthesisGenerator, G2ganConfig
from training.base import FeatureNets, TrainingModel, register_training
from training.families.common import PatchDiscriminator, eval_l1, gan_loss, heatmap_batch, set_requires_grad


@dataclass(frozen=True)
class G2ganLoss:
    """Section 4.2's weights and Adam's settings.

    identity_start -> identity_end: lambda_ip, "0.1 in the beginning, gradually increased to 0.5";
    the paper gives no schedule, we ramp it linearly over ``identity_ramp_steps`` generator steps.
    The identity term uses ``FeatureNets.identity`` (the paper: Light CNN model B) and is off when
    that is None; G2-GAN's PatchGAN discriminators have no identity embedding to stand in for it.
    The learning rate's value is lost from our copy of the paper; 2e-4 with betas (0.5, 0.999) is
    pix2pix's, which the paper adapts its networks from.
    """

    gan: float = 1.0
    pixel: float = 10.0
    cycle: float = 5.0
    identity_start: float = 0.1
    identity_end: float = 0.5
    identity_ramp_steps: int = 50_000
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999


@register_training("g2gan")
class G2ganTraining(TrainingModel):
    """G_S (exported as "g2gan"), G_R (exportable as "g2gan_removal"), D_S and D_R."""

    def __init__(self, arch: G2ganConfig, loss: G2ganLoss, features: FeatureNets, device: torch.device) -> None:
        super().__init__(arch, loss, features, device)
        self.generator = ExpressionSynthesisGenerator(arch).to(device)
        self.removal = ExpressionRemovalGenerator(arch).to(device)
        triplet_channels = 3 + arch.n_landmarks + 3
        self.d_synthesis = PatchDiscriminator(triplet_channels).to(device)
        self.d_removal = PatchDiscriminator(triplet_channels).to(device)
        betas = (loss.beta1, loss.beta2)
        self.opt_g = torch.optim.Adam(
            chain(self.generator.parameters(), self.removal.parameters()), lr=loss.lr, betas=betas
        )
        self.opt_d = torch.optim.Adam(
            chain(self.d_synthesis.parameters(), self.d_removal.parameters()), lr=loss.lr, betas=betas
        )

    @classmethod
    def loss_config_cls(cls) -> type:
        return G2ganLoss

    def set_input(self, batch: dict[str, torch.Tensor]) -> None:
        self.neutral = batch["src_image"].to(self.device)
        self.expressive = batch["tgt_image"].to(self.device)
        self.heatmap = heatmap_batch(batch["tgt_landmarks"], self.arch.image_size).to(self.device)

    def generator_inputs(self) -> tuple[torch.Tensor, ...]:
        return self.neutral, self.heatmap

    def forward(self) -> torch.Tensor:
        self.fake_expressive = self.replica(self.generator)(self.neutral, self.heatmap)
        self.fake_neutral = self.replica(self.removal)(self.expressive, self.heatmap)
        return self.fake_expressive

    def generator_steps(self) -> int:
        """Generator updates so far: Adam's own step count, which checkpoints restore with the optimiser."""
        state = self.opt_g.state.get(self.opt_g.param_groups[0]["params"][0], {})
        return int(state.get("step", 0))

    def identity_weight(self, step: int) -> float:
        """lambda_ip after ``step`` generator updates: identity_start rising linearly to identity_end."""
        loss = self.loss
        progress = min(1.0, step / max(1, loss.identity_ramp_steps))
        return loss.identity_start + (loss.identity_end - loss.identity_start) * progress

    def _triplet(self, condition: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        """(condition face, H^E, candidate face): (B, 3 + 68 + 3, N, N)."""
        return torch.cat([condition, self.heatmap, image], dim=1)

    def _identity_loss(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        identity = self.features.identity
        with torch.no_grad():
            real_features = identity(real)
        return F.l1_loss(identity(fake), real_features)

    def optimize_parameters(self) -> dict[str, float]:
        fake_e = self.forward()
        fake_n = self.fake_neutral
        discriminators = [self.d_synthesis, self.d_removal]
        d_s, d_r = self.replica(self.d_synthesis), self.replica(self.d_removal)

        set_requires_grad(discriminators, True)
        self.opt_d.zero_grad(set_to_none=True)
        d_synthesis = 0.5 * (
            gan_loss(d_s(self._triplet(self.neutral, self.expressive)), True)
            + gan_loss(d_s(self._triplet(self.neutral, fake_e.detach())), False)
        )
        d_removal = 0.5 * (
            gan_loss(d_r(self._triplet(self.expressive, self.neutral)), True)
            + gan_loss(d_r(self._triplet(self.expressive, fake_n.detach())), False)
        )
        (d_synthesis + d_removal).backward()
        self.opt_d.step()

        set_requires_grad(discriminators, False)
        self.opt_g.zero_grad(set_to_none=True)
        g_gan = gan_loss(self.d_synthesis(self._triplet(self.neutral, fake_e)), True) + gan_loss(
            self.d_removal(self._triplet(self.expressive, fake_n)), True
        )
        g_pixel = F.l1_loss(fake_e, self.expressive) + F.l1_loss(fake_n, self.neutral)
        g_cycle = F.l1_loss(self.replica(self.removal)(fake_e, self.heatmap), self.neutral) + F.l1_loss(
            self.replica(self.generator)(fake_n, self.heatmap), self.expressive
        )
        if self.features.identity is not None:
            w_identity = self.identity_weight(self.generator_steps())
            g_identity = self._identity_loss(fake_e, self.expressive) + self._identity_loss(fake_n, self.neutral)
        else:
            w_identity = 0.0
            g_identity = torch.zeros((), device=self.device)
        total = self.loss.gan * g_gan + self.loss.pixel * g_pixel + self.loss.cycle * g_cycle + w_identity * g_identity
        total.backward()
        self.opt_g.step()

        return {
            "D_synthesis": d_synthesis.item(),
            "D_removal": d_removal.item(),
            "G_gan": g_gan.item(),
            "G_pixel": g_pixel.item(),
            "G_cycle": g_cycle.item(),
            "G_identity": g_identity.item(),
            "w_identity": w_identity,
            "G_total": total.item(),
        }

    def reconstruction_loss(self) -> float:
        return eval_l1(self.generator, self.generator_inputs(), self.expressive)

    def auxiliary_networks(self) -> dict[str, tuple[str, nn.Module, tuple[torch.Tensor, ...]]]:
        """Role -> (engine.nets family, network, its inputs for the current batch): G_R, which expression
        transfer (section 3.2) runs before G_S, exported beside the generator."""
        return {"removal": ("g2gan_removal", self.removal, (self.expressive, self.heatmap))}

    def networks(self) -> dict[str, nn.Module]:
        return {
            "generator": self.generator,
            "removal": self.removal,
            "d_synthesis": self.d_synthesis,
            "d_removal": self.d_removal,
        }

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"generator": self.opt_g, "discriminator": self.opt_d}

    def visuals(self) -> dict[str, torch.Tensor]:
        return {
            "source": self.neutral,
            "output": self.fake_expressive.detach(),
            "target": self.expressive,
            "removal": self.fake_neutral.detach(),
        }
