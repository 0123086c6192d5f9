"""Paper 3 training (Wang et al., U-Net conditional GAN): identity-aware pairs and a triplet loss.

Our copy of the paper is its abstract, so beyond it we choose what its pix2pix-based authors would,
and say so:

* the discriminator is conditional (pix2pix): it sees (condition face, candidate face, label maps).
  Real: (I_src, I_tgt). Generated: (I_src, G(I_src, c)) and, as the abstract adds, the output paired
  with the condition image of another identity (I_other, G(I_src, c)), where I_other is another
  person showing the target expression (batch key ``other_image``), so that D also learns to tell
  the input's identity from others.
* it computes each face's features with one shared trunk (a two-layer siamese stem, then the pair
  goes through the rest of a 70 x 70 PatchGAN) and carries an identity embedding head on that trunk,
  trained with a triplet on real faces (anchor I_tgt, positive I_src: same person, other
  expression; negative I_other: other person, same expression).
* the generator's triplet loss (FaceNet form, margin 0.2 on L2-normalised embeddings) pulls
  G(I_src, c) towards I_tgt and away from I_other. Embeddings come from ``FeatureNets.identity``
  when there is one, else from the discriminator's identity head, which the abstract's
  identity-aware discriminator allows.
* weights: adversarial 1 and L1 100 as pix2pix, triplet 1; Adam 2e-4, betas (0.5, 0.999).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from engine.nets.blocks import ConvNormAct, downsample_maps, init_normal
from engine.nets.unet_cgan import UnetCganConfig, UnetCganGenerator
from training.base import FeatureNets, TrainingModel, register_training
from training.families.common import eval_l1, gan_loss, label_map_batch, set_requires_grad


class IdentityAwareDiscriminator(nn.Module):
    """Conditional PatchGAN with a shared per-face trunk and an identity embedding head.

    trunk: face (B, 3, N, N) -> (B, 2ndf, N/4, N/4)  [conv4 s2 ndf, LReLU; conv4 s2 2ndf, BN, LReLU]
    forward(condition, candidate, labels): trunk(condition) || trunk(candidate) || labels pooled to
        N/4 -> conv4 s2 4ndf -> conv4 s1 8ndf -> conv4 s1 1: logits (B, 1, N/8 - 2, N/8 - 2),
        14 x 14 at N = 128 with the 70 x 70 receptive field of pix2pix's PatchGAN.
    embed(face): trunk -> conv4 s2 4ndf -> global mean -> linear -> (B, embed_dim), L2-normalised.
    """

    def __init__(self, n_labels: int, ndf: int = 64, embed_dim: int = 128) -> None:
        super().__init__()
        self.trunk = nn.Sequential(
            ConvNormAct(3, ndf, 4, 2, 1, norm=False, act="lrelu"),
            ConvNormAct(ndf, 2 * ndf, 4, 2, 1, act="lrelu"),
        )
        self.pair = nn.Sequential(
            ConvNormAct(4 * ndf + n_labels, 4 * ndf, 4, 2, 1, act="lrelu"),
            ConvNormAct(4 * ndf, 8 * ndf, 4, 1, 1, act="lrelu"),
            nn.Conv2d(8 * ndf, 1, 4, 1, 1),
        )
        self.identity = nn.Sequential(
            ConvNormAct(2 * ndf, 4 * ndf, 4, 2, 1, act="lrelu"),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(4 * ndf, embed_dim),
        )
        init_normal(self)

    def forward(self, condition: torch.Tensor, candidate: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        features = self.trunk(torch.cat([condition, candidate], dim=0))
        cond_features, cand_features = features.chunk(2, dim=0)
        factor = labels.shape[-1] // cond_features.shape[-1]
        return self.pair(torch.cat([cond_features, cand_features, downsample_maps(labels, factor)], dim=1))

    def embed(self, faces: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.identity(self.trunk(faces)), dim=1)


@dataclass(frozen=True)
class UnetCganLoss:
    """Loss weights and Adam's settings (our choices where the abstract is silent; module docstring).

    gan, pixel: the pix2pix objective (L_cGAN + 100 L1). triplet: the generator's identity triplet,
    triplet_margin its FaceNet margin. d_triplet: the discriminator identity head's triplet on real
    faces.
    """

    gan: float = 1.0
    pixel: float = 100.0
    triplet: float = 1.0
    triplet_margin: float = 0.2
    d_triplet: float = 1.0
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999


@register_training("unet_cgan")
class UnetCganTraining(TrainingModel):
    """G (engine.nets.unet_cgan) against the identity-aware discriminator; src -> tgt with tgt's label."""

    def __init__(self, arch: UnetCganConfig, loss: UnetCganLoss, features: FeatureNets, device: torch.device) -> None:
        super().__init__(arch, loss, features, device)
        self.generator = UnetCganGenerator(arch).to(device)
        self.discriminator = IdentityAwareDiscriminator(arch.n_labels).to(device)
        betas = (loss.beta1, loss.beta2)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=loss.lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=loss.lr, betas=betas)

    @classmethod
    def loss_config_cls(cls) -> type:
        return UnetCganLoss

    def set_input(self, batch: dict[str, torch.Tensor]) -> None:
        size = self.arch.image_size
        self.src = batch["src_image"].to(self.device)
        self.tgt = batch["tgt_image"].to(self.device)
        self.other = batch["other_image"].to(self.device)
        labels = label_map_batch(batch["tgt_label"], batch["tgt_intensity"], self.arch.n_labels, size)
        self.labels = labels.to(self.device)

    def generator_inputs(self) -> tuple[torch.Tensor, ...]:
        return self.src, self.labels

    def forward(self) -> torch.Tensor:
        self.fake = self.replica(self.generator)(self.src, self.labels)
        return self.fake

    def _triplet(self, embeddings: torch.Tensor) -> torch.Tensor:
        """embeddings of (anchor; positive; negative) stacked on the batch axis -> triplet loss."""
        anchor, positive, negative = embeddings.chunk(3, dim=0)
        return F.triplet_margin_loss(anchor, positive, negative, margin=self.loss.triplet_margin)

    def _generator_embeddings(self, fake: torch.Tensor) -> torch.Tensor:
        """Embeddings of (G output; I_tgt; I_other); gradients reach the generator through the output only."""
        identity = self.features.identity
        if identity is None:
            embedded = self.discriminator.embed(torch.cat([fake, self.tgt, self.other]))
        else:
            embedded = F.normalize(identity(torch.cat([fake, self.tgt, self.other])), dim=1)
        anchor, rest = embedded.split([fake.shape[0], 2 * fake.shape[0]])
        return torch.cat([anchor, rest.detach()])

    def optimize_parameters(self) -> dict[str, float]:
        fake = self.forward()
        d = self.discriminator
        trained_d = self.replica(d)

        set_requires_grad([d], True)
        self.opt_d.zero_grad(set_to_none=True)
        fake_d = fake.detach()
        d_real = gan_loss(trained_d(self.src, self.tgt, self.labels), True)
        d_fake = 0.5 * (
            gan_loss(trained_d(self.src, fake_d, self.labels), False)
            + gan_loss(trained_d(self.other, fake_d, self.labels), False)
        )
        # embed is not forward: it joins the backward of the replica's forward passes above, whose
        # gradient hooks also average the identity head's gradients (training.distributed, rule 4).
        d_triplet = self._triplet(d.embed(torch.cat([self.tgt, self.src, self.other])))
        d_total = 0.5 * (d_real + d_fake) + self.loss.d_triplet * d_triplet
        d_total.backward()
        self.opt_d.step()

        set_requires_grad([d], False)
        self.opt_g.zero_grad(set_to_none=True)
        g_gan = gan_loss(d(self.src, fake, self.labels), True)
        g_pixel = F.l1_loss(fake, self.tgt)
        g_triplet = self._triplet(self._generator_embeddings(fake))
        total = self.loss.gan * g_gan + self.loss.pixel * g_pixel + self.loss.triplet * g_triplet
        total.backward()
        self.opt_g.step()

        return {
            "D_real": d_real.item(),
            "D_fake": d_fake.item(),
            "D_triplet": d_triplet.item(),
            "G_gan": g_gan.item(),
            "G_pixel": g_pixel.item(),
            "G_triplet": g_triplet.item(),
            "triplet_from_discriminator": float(self.features.identity is None),
            "G_total": total.item(),
        }

    def reconstruction_loss(self) -> float:
        return eval_l1(self.generator, self.generator_inputs(), self.tgt)

    def networks(self) -> dict[str, nn.Module]:
        return {"generator": self.generator, "discriminator": self.discriminator}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"generator": self.opt_g, "discriminator": self.opt_d}

    def visuals(self) -> dict[str, torch.Tensor]:
        return {"source": self.src, "output": self.fake.detach(), "target": self.tgt, "other": self.other}
