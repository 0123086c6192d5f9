"""TER-GAN training (paper 4, Ali & Hughes): multi-task discriminator, consistency discriminators
behind gradient reversal, losses eq. 1-10 and the two-stage curriculum of section 3.1.4.

Naming. The paper's *source* image x_s gives the expression and its *target* image x_t the identity.
In a training batch (training.base) ``src_image`` is the photo to edit and ``tgt_image`` the same
person with the wanted expression, so here x_t = ``src_image`` (identity, label ``person``) and
x_s = ``tgt_image`` (expression, label ``tgt_label``); the generator's output x̄ should equal
``tgt_image``.

Cross-identity pairs (section 3.1.2): x_s and x̄ share the expression and differ in identity. Each
batch's x_s is the ``tgt_image`` of another person in the batch with the same target label
(:func:`cross_identity`); the edited person's own ``tgt_image`` is kept as ``truth``, the photo x̄
should equal, used by the optional ``lambda_truth`` term (not in the paper; 0 keeps eq. 10 as
written) and by the reconstruction score. Augmentation (section 4.1): every training photo is one
of five crops (centre, four corners) at ``crop_fraction`` of the side, rotated by one of -6, -3, 0,
3, 6 degrees and flipped at random (:func:`augment`); x_t and ``truth`` share one draw so pixel
losses compare aligned faces, x_s gets its own.

Curriculum (``TerGanLoss.pretrain_steps``): for the first steps G_es and G_et are trained as
expression and identity classifiers (linear heads on f(e) and f(i)); at the switch a frozen copy of
each becomes the "pre-trained version" whose five conv activations eq. 8 and 9 compare. Afterwards
all of TER-GAN is trained adversarially. The expression head keeps learning on detached f(e) of real
photos during the second stage: together with G_es it is the recogniser of section 4.4 (the
``tergan_recognizer`` family), exported as an auxiliary network.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from engine.nets.blocks import ConvNormAct
from engine.nets.tergan import (
    CodeClassifier,
    ExpressionEncoder,
    IdentityEncoder,
    TerGanConfig,
    TerGanGenerator,
    TerGanRecognizer,
)
from training.base import FeatureNets, TrainingModel, register_training
from training.layers import GradientReversal

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TerGanLoss:
    """Loss weights and optimiser settings (paper 4, section 4.1, unless a comment says otherwise).

    lambda_*: the weights of eq. 10 — λ1 L_if, λ2 L_ef, λ3 L_irec, λ4 L_erec, λ5 L_Det, λ6 L_Des, λ7 L_adv.
    feature_weights: ω_1l = ω_2l of eq. 8 and 9 for the five conv layers.
    pretrain_steps: length of the first curriculum stage (encoders as classifiers); the paper does not
        give it. 0 skips the stage, and then eq. 8 and 9 are off (there is no pre-trained encoder).
    n_identities: classes of D^i and of G_et's pre-training head; at least the number of people in
        the training split (the paper's datasets have 101 and 80).
    reversal_scale: the gradient reversal layers' lambda (Ganin et al. use 1 after their ramp).
    cross_identity: x_s from another person with the same label (section 3.1.2); False pairs a
        person with their own expression photo.
    augment, crop_fraction: the five-crop / rotation / flip augmentation of section 4.1 (75 of 84 px).
    lambda_truth: weight of L1(x̄, the edited person's own expression photo); not in the paper.
    lr, betas: Adam; the paper gives Adam and 2e-4. beta1 = 0.5 is the choice of the GANs it builds on
        (DR-GAN, ExprGAN); the paper does not state betas.
    """

    lambda_if: float = 1.0
    lambda_ef: float = 1.0
    lambda_irec: float = 1.0
    lambda_erec: float = 1.0
    lambda_det: float = 0.3
    lambda_des: float = 0.3
    lambda_adv: float = 0.5
    feature_weights: tuple[float, ...] = (0.5, 0.6, 0.7, 0.88, 0.99)
    pretrain_steps: int = 2000
    n_identities: int = 128
    reversal_scale: float = 1.0
    cross_identity: bool = True
    augment: bool = True
    crop_fraction: float = 75 / 84
    lambda_truth: float = 0.0
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999


ROTATIONS_DEG = (-6.0, -3.0, 0.0, 3.0, 6.0)


def cross_identity(labels: torch.Tensor, people: torch.Tensor) -> torch.Tensor:
    """Index (B,) of another sample with the same label and a different person, per sample.

    labels, people: (B,) integer tensors. Each same-label group is rotated by one place among its
    people; a sample whose label no other person shares keeps its own index.
    """
    order = torch.arange(labels.shape[0])
    out = order.clone()
    for label in labels.unique():
        group = order[labels.cpu() == label.cpu()]
        for k, i in enumerate(group.tolist()):
            for step in range(1, len(group)):
                j = int(group[(k + step) % len(group)])
                if int(people[j]) != int(people[i]):
                    out[i] = j
                    break
    return out


def augment_params(batch: int, fraction: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """(B, 2, 3) affine_grid matrices: one of five crops, one of five rotations, a coin-flip mirror each."""
    crop = torch.randint(0, 5, (batch,), generator=generator)
    angle = torch.tensor(ROTATIONS_DEG)[torch.randint(0, len(ROTATIONS_DEG), (batch,), generator=generator)]
    flip = torch.where(torch.rand(batch, generator=generator) < 0.5, -1.0, 1.0)
    margin = 1.0 - fraction
    corners = torch.tensor([[0.0, 0.0], [-margin, -margin], [margin, -margin], [-margin, margin], [margin, margin]])
    shift = corners[crop]
    rad = torch.deg2rad(angle)
    cos, sin = torch.cos(rad) * fraction, torch.sin(rad) * fraction
    theta = torch.stack([torch.stack([cos * flip, -sin, shift[:, 0]], 1), torch.stack([sin * flip, cos, shift[:, 1]], 1)], 1)
    return theta


def augment(images: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Bx3xNxN images resampled by :func:`augment_params`' matrices (bilinear, border padding), same size."""
    grid = F.affine_grid(theta.to(images), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


class MultiTaskDiscriminator(nn.Module):
    """D = (D^e, D^i) with a shared trunk (section 4.1).

    Four conv blocks (16, 32, 64, 128 channels) and a 1024-d FC layer are shared; each branch adds FC
    layers of 512 and 256 and a classification layer. D^e has N_e + 1 outputs, the last meaning
    "fake" (eq. 1); D^i has one per identity. The blocks are 4x4 stride-2 convolutions with batch norm
    (none on the first) and leaky ReLU, the DCGAN discriminator the paper's multi-task D derives from.

    image: Bx3xNxN in [-1, 1] -> (Bx(N_e+1) expression logits, BxN_i identity logits).
    """

    CHANNELS = (16, 32, 64, 128)

    def __init__(self, config: TerGanConfig, n_identities: int) -> None:
        super().__init__()
        widths = (3, *self.CHANNELS)
        self.convs = nn.Sequential(
            *(
                ConvNormAct(cin, cout, 4, stride=2, padding=1, norm=i > 0, act="lrelu")
                for i, (cin, cout) in enumerate(zip(widths[:-1], widths[1:]))
            )
        )
        side = config.image_size // 2 ** len(self.CHANNELS)
        self.shared = nn.Sequential(nn.Linear(widths[-1] * side * side, 1024), nn.LeakyReLU(0.2, inplace=True))
        self.expression = self._branch(config.n_expressions + 1)
        self.identity = self._branch(n_identities)

    @staticmethod
    def _branch(n_classes: int) -> nn.Sequential:
        return nn.Sequential(
            nn.Linear(1024, 512),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(512, 256),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(256, n_classes),
        )

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.shared(self.convs(image).flatten(1))
        return self.expression(h), self.identity(h)


class CodeDiscriminator(nn.Module):
    """D_es / D_et: FC layers of 32, 16 and 1 (section 4.1) on a code BxD -> Bx1 logit
    ("from a real photo" vs "from a generated one", eq. 4 and 5)."""

    def __init__(self, code_dim: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(code_dim, 32),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(32, 16),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(16, 1),
        )

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        return self.body(code)


class PretrainedEncoders(nn.Module):
    """The frozen "pre-trained versions" of G_es and G_et used by eq. 8 and 9.

    ``steps`` counts the curriculum's first-stage steps done; it is a buffer so that a checkpoint
    resumes in the right stage. The encoders stay in eval mode (fixed batch-norm statistics) whatever
    ``train()`` is asked.
    """

    def __init__(self, config: TerGanConfig) -> None:
        super().__init__()
        self.expression = ExpressionEncoder(config)
        self.identity = IdentityEncoder(config)
        self.register_buffer("steps", torch.zeros((), dtype=torch.int64))
        self.requires_grad_(False)
        self.train(False)

    def train(self, mode: bool = True) -> "PretrainedEncoders":
        return super().train(False)

    def capture(self, generator: TerGanGenerator) -> None:
        """Copy the current encoders of ``generator`` (the end of the first stage)."""
        self.expression.load_state_dict(generator.expression_encoder.state_dict())
        self.identity.load_state_dict(generator.identity_encoder.state_dict())


def feature_distance(
    encoder: nn.Module, image: torch.Tensor, reference: torch.Tensor, weights: tuple[float, ...]
) -> torch.Tensor:
    """Eq. 8 / 9: sum_l w_l * L1(h_l(image), h_l(reference)); ``reference`` features carry no gradient."""
    with torch.no_grad():
        target = encoder.features(reference)
    return sum(w * F.l1_loss(h, t) for w, h, t in zip(weights, encoder.features(image), target))


@register_training("tergan")
class TerGanModel(TrainingModel):
    """TER-GAN's networks, optimisers and one training step per :meth:`optimize_parameters` call.

    ``features`` is unused: TER-GAN's feature losses use its own pre-trained encoders.
    """

    def __init__(self, arch: TerGanConfig, loss: TerGanLoss, features: FeatureNets, device: torch.device) -> None:
        super().__init__(arch, loss, features, device)
        if len(loss.feature_weights) != len(arch.encoder_channels):
            raise ValueError("feature_weights needs one weight per encoder block")
        self.generator = TerGanGenerator(arch).to(device)
        self.expression_head = CodeClassifier(arch.expression_dim, arch.n_expressions).to(device)
        self.identity_head = CodeClassifier(arch.identity_dim, loss.n_identities).to(device)
        self.discriminator = MultiTaskDiscriminator(arch, loss.n_identities).to(device)
        self.expression_critic = CodeDiscriminator(arch.expression_dim).to(device)
        self.identity_critic = CodeDiscriminator(arch.identity_dim).to(device)
        self.pretrained = PretrainedEncoders(arch).to(device)
        self.reversal = GradientReversal(loss.reversal_scale)
        if loss.pretrain_steps == 0:
            log.info("tergan: no pre-training stage, so the feature losses (eq. 8, 9) are off")

        def adam(*modules: nn.Module) -> torch.optim.Adam:
            params = [p for m in modules for p in m.parameters()]
            return torch.optim.Adam(params, lr=loss.lr, betas=(loss.beta1, loss.beta2))

        self._optimizers = {
            "generator": adam(self.generator),
            "heads": adam(self.expression_head, self.identity_head),
            "discriminator": adam(self.discriminator),
            "critics": adam(self.expression_critic, self.identity_critic),
        }

    @classmethod
    def loss_config_cls(cls) -> type:
        return TerGanLoss

    @property
    def pretraining(self) -> bool:
        """True while the curriculum's first stage (encoders as classifiers) runs."""
        return int(self.pretrained.steps) < self.loss.pretrain_steps

    def set_input(self, batch: dict[str, torch.Tensor]) -> None:
        identity, truth = batch["src_image"].to(self.device), batch["tgt_image"].to(self.device)
        source = torch.arange(truth.shape[0])
        if self.loss.cross_identity:
            source = cross_identity(batch["tgt_label"], batch["person"])
        expression = truth[source.to(self.device)]
        if self.loss.augment:
            shared = augment_params(truth.shape[0], self.loss.crop_fraction)
            identity, truth = augment(identity, shared), augment(truth, shared)
            expression = augment(expression, augment_params(truth.shape[0], self.loss.crop_fraction))
        self.identity_image = identity  # x_t
        self.expression_image = expression  # x_s: same label, another person where the batch has one
        self.truth = truth  # the person of x_t with x_s's expression: what x̄ should be
        self.identity_label = batch["person"].to(self.device)  # y_t
        if int(self.identity_label.max()) >= self.loss.n_identities:
            raise ValueError(
                f"person index {int(self.identity_label.max())} needs loss.n_identities > {self.loss.n_identities}"
            )
        self.truth_label = batch["tgt_label"].to(self.device)
        self.expression_label = self.truth_label[source.to(self.device)]  # y_s
        self.identity_expression_label = batch["src_label"].to(self.device)  # expression shown on x_t

    def forward(self) -> torch.Tensor:
        self.fake = self.generator(self.identity_image, self.expression_image)
        return self.fake

    def optimize_parameters(self) -> dict[str, float]:
        if self.pretraining:
            return self._pretrain_step()
        return self._adversarial_step()

    def _pretrain_step(self) -> dict[str, float]:
        """First stage: G_es classifies expressions and G_et identities, on both photos of each pair."""
        images = torch.cat([self.identity_image, self.truth])  # both of person y_t
        expressions = torch.cat([self.identity_expression_label, self.truth_label])
        identities = torch.cat([self.identity_label, self.identity_label])
        g, run = self.generator, self.replica
        loss_e = F.cross_entropy(run(self.expression_head)(run(g.expression_encoder)(images)), expressions)
        loss_i = F.cross_entropy(run(self.identity_head)(run(g.identity_encoder)(images)), identities)
        for name in ("generator", "heads"):
            self._optimizers[name].zero_grad(set_to_none=True)
        (loss_e + loss_i).backward()
        for name in ("generator", "heads"):
            self._optimizers[name].step()
        self.pretrained.steps += 1
        if not self.pretraining:
            self.pretrained.capture(self.generator)
            log.info("tergan: encoders pre-trained for %d steps; adversarial stage begins", self.loss.pretrain_steps)
        return {"pretrain_expression": loss_e.item(), "pretrain_identity": loss_i.item()}

    def _adversarial_step(self) -> dict[str, float]:
        """Second stage: D (eq. 1), then G with eq. 10, the critics through gradient reversal, the head."""
        w = self.loss
        g, run = self.generator, self.replica
        x_t, x_s = self.identity_image, self.expression_image
        f_e = run(g.expression_encoder)(x_s)
        f_i = run(g.identity_encoder)(x_t)
        fake = run(g.decoder)(f_e, f_i)
        self.fake = fake
        fake_class = torch.full_like(self.expression_label, self.arch.n_expressions)

        # D: real photos to their expression / identity, x̄ to the "fake" expression class (eq. 1).
        self.discriminator.requires_grad_(True)
        e_logits, i_logits = run(self.discriminator)(torch.cat([x_s, x_t, fake.detach()]))
        n = x_s.shape[0]
        loss_d = (
            F.cross_entropy(e_logits[:n], self.expression_label)
            + F.cross_entropy(i_logits[n : 2 * n], self.identity_label)
            + F.cross_entropy(e_logits[2 * n :], fake_class)
        )
        self._optimizers["discriminator"].zero_grad(set_to_none=True)
        loss_d.backward()
        self._optimizers["discriminator"].step()

        # G: x̄ should be classified as x_s's expression and x_t's identity (eq. 2) ...
        self.discriminator.requires_grad_(False)
        e_fake, i_fake = self.discriminator(fake)
        loss_adv = F.cross_entropy(e_fake, self.expression_label) + F.cross_entropy(i_fake, self.identity_label)
        # ... reconstruct both inputs pixel-wise (eq. 6, 7) ...
        loss_irec = F.l1_loss(fake, x_t)
        loss_erec = F.l1_loss(fake, x_s)
        loss_truth = F.l1_loss(fake, self.truth)
        # ... and match them in the pre-trained encoders' feature spaces (eq. 8, 9).
        features_on = self.loss.pretrain_steps > 0
        if features_on:
            loss_ef = feature_distance(self.pretrained.expression, fake, x_s, w.feature_weights)
            loss_if = feature_distance(self.pretrained.identity, fake, x_t, w.feature_weights)
        else:
            loss_ef = loss_if = fake.new_zeros(())
        # Consistency discriminators on real vs generated codes (eq. 4, 5); the reversal layer makes
        # the critics minimise the cross-entropy while the encoders maximise it.
        fake_in = fake.detach()
        loss_des = self._consistency(run(self.expression_critic), f_e, run(g.expression_encoder)(fake_in))
        loss_det = self._consistency(run(self.identity_critic), f_i, run(g.identity_encoder)(fake_in))
        total = (
            w.lambda_if * loss_if
            + w.lambda_ef * loss_ef
            + w.lambda_irec * loss_irec
            + w.lambda_erec * loss_erec
            + w.lambda_det * loss_det
            + w.lambda_des * loss_des
            + w.lambda_adv * loss_adv
            + w.lambda_truth * loss_truth
        )
        for name in ("generator", "critics"):
            self._optimizers[name].zero_grad(set_to_none=True)
        total.backward()
        for name in ("generator", "critics"):
            self._optimizers[name].step()

        # The recogniser's shallow classifier on the (detached) expression codes of real photos.
        loss_head = F.cross_entropy(run(self.expression_head)(f_e.detach()), self.expression_label)
        self._optimizers["heads"].zero_grad(set_to_none=True)
        loss_head.backward()
        self._optimizers["heads"].step()

        losses = {
            "D": loss_d.item(),
            "G_adv": loss_adv.item(),
            "G_irec": loss_irec.item(),
            "G_erec": loss_erec.item(),
            "G_truth": loss_truth.item(),
            "D_es": loss_des.item(),
            "D_et": loss_det.item(),
            "recognizer": loss_head.item(),
        }
        if features_on:
            losses |= {"G_ef": loss_ef.item(), "G_if": loss_if.item()}
        return losses

    def _consistency(self, critic: nn.Module, real_code: torch.Tensor, fake_code: torch.Tensor) -> torch.Tensor:
        """Eq. 4 / 5: binary cross-entropy of ``critic`` telling codes of real photos (1) from codes of x̄ (0)."""
        real = critic(self.reversal(real_code))
        fake = critic(self.reversal(fake_code))
        return F.binary_cross_entropy_with_logits(real, torch.ones_like(real)) + F.binary_cross_entropy_with_logits(
            fake, torch.zeros_like(fake)
        )

    @torch.no_grad()
    def reconstruction_loss(self) -> float:
        return F.l1_loss(self.generator(self.identity_image, self.expression_image), self.truth).item()

    def generator_inputs(self) -> tuple[torch.Tensor, ...]:
        return (self.identity_image, self.expression_image)

    def recognizer(self) -> TerGanRecognizer:
        """The ``tergan_recognizer`` network sharing this model's G_es and expression head."""
        return TerGanRecognizer(self.arch, encoder=self.generator.expression_encoder, classifier=self.expression_head)

    def auxiliary_networks(self) -> dict[str, tuple[str, nn.Module, tuple[torch.Tensor, ...]]]:
        """Role -> (engine.nets family, network, its inputs for the current batch), exported beside the generator."""
        return {"recognizer": ("tergan_recognizer", self.recognizer(), (self.expression_image,))}

    def networks(self) -> dict[str, nn.Module]:
        return {
            "generator": self.generator,
            "expression_head": self.expression_head,
            "identity_head": self.identity_head,
            "discriminator": self.discriminator,
            "expression_critic": self.expression_critic,
            "identity_critic": self.identity_critic,
            "pretrained": self.pretrained,
        }

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return dict(self._optimizers)

    def trained_networks(self) -> dict[str, nn.Module]:
        """The generator as its three parts (the first stage trains the encoders without the decoder),
        the heads, D and the critics; not the frozen pre-trained encoders."""
        g = self.generator
        return {
            "expression_encoder": g.expression_encoder,
            "identity_encoder": g.identity_encoder,
            "decoder": g.decoder,
            "expression_head": self.expression_head,
            "identity_head": self.identity_head,
            "discriminator": self.discriminator,
            "expression_critic": self.expression_critic,
            "identity_critic": self.identity_critic,
        }

    @torch.no_grad()
    def visuals(self) -> dict[str, torch.Tensor]:
        return {"identity": self.identity_image, "expression": self.expression_image, "output": self.forward(),
                "target": self.truth}
