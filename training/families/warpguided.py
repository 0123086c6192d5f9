"""Training of the warp-guided refiner (engine/nets/warpguided.py), the product's default model.

    G(W, g) -> (Y, A)   W: the photo mesh-warped to the target geometry (training/data/prewarp.py),
                        g: the geometry guidance, Y = A * C + (1 - A) * W, A the attention mask
    D(W, g, Y)          conditional PatchGAN on the whole crop (pix2pix / paper 1, Table 3)
    D_m(mouth of Y)     PatchGAN on the mouth box, resized to 128 px: Geng et al. give the mouth its
                        own network; here the mouth gets its own critic and its own loss weight

Losses (weights in ``WarpGuidedLoss``): L1 over the region the pair can vouch for (``region``:
the face for cross-photo pairs, everything for exact self-supervised pairs) with the mouth box
counted ``mouth`` times more; MobileNetV2 perceptual distance on the face and on the mouth box;
least-squares GAN losses of both critics (pix2pix's LSGAN option: steadier than the log loss at
batch 4); GANimation's attention terms: the mask's mean (change as little as needed) and its total
variation (smooth masks, no speckle). Outside ``region`` the output is blended with the target
before every loss, so a pair's unrelated hair or background never asks for a change.

Speed on CPU: bf16 autocast with channels-last tensors for every network (the brief's lean
trainer); the batch is built in memory by the dataset, no file is read per step.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain

import torch
import torch.nn.functional as F
from torch import nn

from engine.nets.warpguided import WarpGuidedConfig, WarpGuidedGenerator
from training.base import FeatureNets, TrainingModel, register_training
from training.families.common import PatchDiscriminator, set_requires_grad

MOUTH_SIZE = 128


@dataclass(frozen=True)
class WarpGuidedLoss:
    """Loss weights and Adam settings. GANimation's attention weights are 0.1 (mean) and 1e-5 (TV
    on sums); ours are on means, so TV is scaled up accordingly. ndf: the critics' base width."""

    l1: float = 10.0
    mouth: float = 4.0
    perceptual: float = 1.0
    perceptual_mouth: float = 1.0
    gan: float = 1.0
    gan_mouth: float = 1.0
    mask_mean: float = 0.05
    mask_tv: float = 0.5
    ndf: int = 32
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    autocast: bool = True


def mouth_crops(images: torch.Tensor, boxes: torch.Tensor, size: int = MOUTH_SIZE) -> torch.Tensor:
    """(B, C, N, N) images and (B, 4) int boxes (x0, y0, x1, y1) -> (B, C, size, size) bilinear crops."""
    crops = [
        F.interpolate(img[None, :, y0:y1, x0:x1], size=(size, size), mode="bilinear", align_corners=False)
        for img, (x0, y0, x1, y1) in zip(images, boxes.tolist())
    ]
    return torch.cat(crops)


def _tv(mask: torch.Tensor) -> torch.Tensor:
    return (mask[..., 1:, :] - mask[..., :-1, :]).abs().mean() + (mask[..., :, 1:] - mask[..., :, :-1]).abs().mean()


@register_training("warpguided")
class WarpGuidedTraining(TrainingModel):
    """G (exported as "warpguided"), the whole-crop critic D and the mouth critic D_m."""

    def __init__(self, arch: WarpGuidedConfig, loss: WarpGuidedLoss, features: FeatureNets, device: torch.device) -> None:
        super().__init__(arch, loss, features, device)
        self.generator = WarpGuidedGenerator(arch).to(device).to(memory_format=torch.channels_last)
        self.d_face = PatchDiscriminator(3 + 3 + 3, loss.ndf).to(device).to(memory_format=torch.channels_last)
        self.d_mouth = PatchDiscriminator(3, loss.ndf).to(device).to(memory_format=torch.channels_last)
        betas = (loss.beta1, loss.beta2)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=loss.lr, betas=betas)
        self.opt_d = torch.optim.Adam(chain(self.d_face.parameters(), self.d_mouth.parameters()), lr=loss.lr, betas=betas)

    @classmethod
    def loss_config_cls(cls) -> type:
        return WarpGuidedLoss

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.loss.autocast)

    def set_input(self, batch: dict[str, torch.Tensor]) -> None:
        cl = torch.channels_last
        self.warped = batch["src_image"].to(self.device).contiguous(memory_format=cl)
        self.target = batch["tgt_image"].to(self.device).contiguous(memory_format=cl)
        self.guidance = batch["guidance"].to(self.device).contiguous(memory_format=cl)
        self.region = batch["region"].to(self.device)
        self.boxes = batch["mouth_box"]

    def generator_inputs(self) -> tuple[torch.Tensor, ...]:
        return self.warped, self.guidance

    def forward(self) -> torch.Tensor:
        with self._autocast():
            out = self.replica(self.generator)(self.warped, self.guidance)
        self.output = out[:, :3].float()
        self.mask = out[:, 3:4].float()
        return self.output

    def _scored(self, image: torch.Tensor) -> torch.Tensor:
        """``image`` where the pair vouches for the target, the target elsewhere."""
        return self.region * image + (1.0 - self.region) * self.target

    def optimize_parameters(self) -> dict[str, float]:
        loss = self.loss
        fake = self._scored(self.forward())
        real_mouth = mouth_crops(self.target, self.boxes)
        fake_mouth = mouth_crops(fake, self.boxes)
        condition = torch.cat([self.warped, self.guidance], dim=1)
        critics = [self.d_face, self.d_mouth]
        d_face_net, d_mouth_net = self.replica(self.d_face), self.replica(self.d_mouth)

        set_requires_grad(critics, True)
        self.opt_d.zero_grad(set_to_none=True)
        with self._autocast():
            d_face = 0.5 * (
                (d_face_net(torch.cat([condition, self.target], 1)).float() - 1).pow(2).mean()
                + d_face_net(torch.cat([condition, fake.detach()], 1)).float().pow(2).mean()
            )
            d_mouth = 0.5 * (
                (d_mouth_net(real_mouth).float() - 1).pow(2).mean() + d_mouth_net(fake_mouth.detach()).float().pow(2).mean()
            )
        (d_face + d_mouth).backward()
        self.opt_d.step()

        set_requires_grad(critics, False)
        self.opt_g.zero_grad(set_to_none=True)
        with self._autocast():
            g_gan = (self.d_face(torch.cat([condition, fake], 1)).float() - 1).pow(2).mean()
            g_gan_mouth = (self.d_mouth(fake_mouth).float() - 1).pow(2).mean()
        weight = torch.ones_like(self.region)
        for w, (x0, y0, x1, y1) in zip(weight, self.boxes.tolist()):
            w[:, y0:y1, x0:x1] += loss.mouth
        g_l1 = ((fake - self.target).abs() * weight).mean() / weight.mean()
        g_l1_mouth = (fake_mouth - real_mouth).abs().mean()
        g_perc = torch.zeros((), device=self.device)
        g_perc_mouth = torch.zeros((), device=self.device)
        perceptual = self.features.perceptual
        if perceptual is not None:
            with self._autocast():
                half = F.interpolate(torch.cat([fake, self.target]), scale_factor=0.5, mode="bilinear", align_corners=False)
                f_fake, f_real = perceptual(half).float().chunk(2)
                g_perc = (f_fake - f_real.detach()).abs().mean()
                m_fake, m_real = perceptual(torch.cat([fake_mouth, real_mouth])).float().chunk(2)
                g_perc_mouth = (m_fake - m_real.detach()).abs().mean()
        g_mask = self.mask.mean()
        g_tv = _tv(self.mask)
        total = (
            loss.l1 * (g_l1 + g_l1_mouth)
            + loss.perceptual * g_perc
            + loss.perceptual_mouth * g_perc_mouth
            + loss.gan * g_gan
            + loss.gan_mouth * g_gan_mouth
            + loss.mask_mean * g_mask
            + loss.mask_tv * g_tv
        )
        total.backward()
        self.opt_g.step()
        return {
            "D_face": d_face.item(),
            "D_mouth": d_mouth.item(),
            "G_gan": g_gan.item(),
            "G_gan_mouth": g_gan_mouth.item(),
            "G_l1": g_l1.item(),
            "G_l1_mouth": g_l1_mouth.item(),
            "G_perceptual": g_perc.item(),
            "G_perceptual_mouth": g_perc_mouth.item(),
            "mask_mean": g_mask.item(),
            "mask_tv": g_tv.item(),
            "G_total": total.item(),
        }

    @torch.no_grad()
    def reconstruction_loss(self) -> float:
        was = self.generator.training
        self.generator.eval()
        with self._autocast():
            out = self.generator(self.warped, self.guidance)[:, :3].float()
        self.generator.train(was)
        return float(((out - self.target).abs() * self.region).mean() / self.region.mean())

    def networks(self) -> dict[str, nn.Module]:
        return {"generator": self.generator, "d_face": self.d_face, "d_mouth": self.d_mouth}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"generator": self.opt_g, "discriminator": self.opt_d}

    def visuals(self) -> dict[str, torch.Tensor]:
        return {
            "warped": self.warped,
            "output": self.output.detach(),
            "mask": self.mask.detach().expand(-1, 3, -1, -1) * 2 - 1,
            "target": self.target,
        }
