"""TER-GAN (paper 4, Ali & Hughes, "All-In-One: Facial Expression Transfer, Editing and Recognition
Using A Single Network"): two encoders and a decoder.

G_es (:class:`ExpressionEncoder`) maps the photo whose expression drives the output to a 30-d
expression code f(e); G_et (:class:`IdentityEncoder`) maps the photo to edit to a 50-d identity code
f(i); G_de (:class:`Decoder`) turns the concatenation f(x) = [f(e), f(i)] into the image (section 3.1).
Section 4.1 gives the sizes: encoders of five down-sampling blocks with 3x3 stride-1 convolutions and
64, 128, 256, 512, 1024 channels followed by one FC layer; a decoder of five up-sampling blocks with
3x3 stride-1 convolutions and 512, 256, 128, 64, 3 channels.

Two families are registered here:

* ``tergan`` — :class:`TerGanGenerator`, inputs (image, source_image) -> the image with the identity
  of ``image`` and the expression of ``source_image``.
* ``tergan_recognizer`` — :class:`TerGanRecognizer`, the detached G_es plus a shallow classifier
  (section 4.4): image -> (B, 8) expression logits in the order of
  :data:`engine.geometry.labels.EXPRESSIONS`. Its output is logits, not an image.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from engine.geometry.labels import EXPRESSIONS
from engine.nets.blocks import ConvNormAct
from engine.nets.registry import InputSpec, register

PAPER = "Ali & Hughes, All-In-One: Facial Expression Transfer, Editing and Recognition Using A Single Network (TER-GAN)"


@dataclass(frozen=True)
class TerGanConfig:
    """Architecture of TER-GAN's generator and recogniser (paper 4, section 4.1).

    image_size: N of the (3, N, N) input and output; a multiple of 2 ** len(encoder_channels).
    encoder_channels: output channels of the down-sampling blocks of both encoders.
    decoder_channels: output channels of the up-sampling blocks before the last (3-channel) one;
        one fewer than ``encoder_channels`` so the decoder ends at N.
    expression_dim, identity_dim: sizes of f(e) and f(i).
    n_expressions: classes of the recogniser's classifier.
    """

    image_size: int = 128
    encoder_channels: tuple[int, ...] = (64, 128, 256, 512, 1024)
    decoder_channels: tuple[int, ...] = (512, 256, 128, 64)
    expression_dim: int = 30
    identity_dim: int = 50
    n_expressions: int = len(EXPRESSIONS)

    def __post_init__(self) -> None:
        factor = 2 ** len(self.encoder_channels)
        if self.image_size % factor:
            raise ValueError(f"image_size {self.image_size} must be a multiple of {factor}")
        if len(self.decoder_channels) != len(self.encoder_channels) - 1:
            raise ValueError("decoder_channels must have one entry fewer than encoder_channels")

    @property
    def bottleneck_size(self) -> int:
        """Side of the encoders' last feature map: N / 2 ** blocks (4 at 128 px)."""
        return self.image_size // 2 ** len(self.encoder_channels)


class DownBlock(nn.Module):
    """3x3 stride-1 convolution, batch norm, leaky ReLU, then 2x2 max pooling.

    x: BxCinxHxW -> (pre-pool activation BxCoutxHxW, pooled BxCoutxH/2xW/2). The paper gives the
    convolution and its stride only; the pooling that halves the size and the norm/activation are the
    usual choices for a network that begins life as a CNN classifier (the paper's "CNN baseline").
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = ConvNormAct(in_channels, out_channels, 3, stride=1, padding=1, act="lrelu")
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        activation = self.conv(x)
        return activation, self.pool(activation)


class Encoder(nn.Module):
    """Five down-sampling blocks and one FC layer: image Bx3xNxN in [-1, 1] -> code BxD."""

    def __init__(self, config: TerGanConfig, code_dim: int) -> None:
        super().__init__()
        widths = (3, *config.encoder_channels)
        self.blocks = nn.ModuleList(DownBlock(cin, cout) for cin, cout in zip(widths[:-1], widths[1:]))
        self.fc = nn.Linear(widths[-1] * config.bottleneck_size**2, code_dim)

    def features(self, image: torch.Tensor) -> list[torch.Tensor]:
        """The activations of the five convolutional layers (eq. 8 and 9's h_l), largest first:
        Bx64xNxN, Bx128xN/2xN/2, ..., Bx1024xN/16xN/16 at the default widths."""
        out = []
        x = image
        for block in self.blocks:
            activation, x = block(x)
            out.append(activation)
        return out

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = image
        for block in self.blocks:
            _, x = block(x)
        return self.fc(x.flatten(1))


class ExpressionEncoder(Encoder):
    """G_es: image Bx3xNxN in [-1, 1] -> expression code f(e) Bx30 (identity-invariant once trained)."""

    def __init__(self, config: TerGanConfig) -> None:
        super().__init__(config, config.expression_dim)


class IdentityEncoder(Encoder):
    """G_et: image Bx3xNxN in [-1, 1] -> identity code f(i) Bx50 (expression-invariant once trained)."""

    def __init__(self, config: TerGanConfig) -> None:
        super().__init__(config, config.identity_dim)


class UpBlock(nn.Module):
    """Nearest 2x up-sampling, 3x3 stride-1 convolution, batch norm, ReLU: BxCinxHxW -> BxCoutx2Hx2W."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="nearest"),
            ConvNormAct(in_channels, out_channels, 3, stride=1, padding=1, act="relu"),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class Decoder(nn.Module):
    """G_de: f(x) = [f(e), f(i)] Bx80 -> image Bx3xNxN in [-1, 1].

    An FC layer lifts the code to the encoders' last map (1024 x N/32 x N/32), then five up-sampling
    blocks with 512, 256, 128, 64 and 3 channels; the last has no norm and ends in tanh.
    """

    def __init__(self, config: TerGanConfig) -> None:
        super().__init__()
        self.start_channels = config.encoder_channels[-1]
        self.start_size = config.bottleneck_size
        code_dim = config.expression_dim + config.identity_dim
        self.fc = nn.Sequential(
            nn.Linear(code_dim, self.start_channels * self.start_size**2),
            nn.ReLU(inplace=True),
        )
        widths = (self.start_channels, *config.decoder_channels)
        self.blocks = nn.Sequential(*(UpBlock(cin, cout) for cin, cout in zip(widths[:-1], widths[1:])))
        self.to_image = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(widths[-1], 3, 3, stride=1, padding=1),
            nn.Tanh(),
        )

    def forward(self, expression: torch.Tensor, identity: torch.Tensor) -> torch.Tensor:
        """expression: Bx30 f(e); identity: Bx50 f(i) -> Bx3xNxN in [-1, 1]."""
        x = self.fc(torch.cat([expression, identity], dim=1))
        x = x.view(-1, self.start_channels, self.start_size, self.start_size)
        return self.to_image(self.blocks(x))


class CodeClassifier(nn.Module):
    """A shallow (linear) classifier on a code: BxD -> Bxn_classes logits.

    On f(e) it is the expression classifier of section 4.4; in training the same head classifies
    expressions and identities while the encoders are pre-trained (section 3.1.4, first stage).
    """

    def __init__(self, code_dim: int, n_classes: int) -> None:
        super().__init__()
        self.fc = nn.Linear(code_dim, n_classes)

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        return self.fc(code)


@register(
    "tergan",
    paper=PAPER,
    config=TerGanConfig,
    inputs=(InputSpec("image", "image", 3), InputSpec("source_image", "source_image", 3)),
)
class TerGanGenerator(nn.Module):
    """G = (G_es, G_et, G_de).

    image: Bx3xNxN in [-1, 1], the photo to edit (the paper's target image x_t, identity);
    source_image: Bx3xNxN in [-1, 1], the photo whose expression is wanted (source image x_s).
    Returns Bx3xNxN in [-1, 1]: G_de([G_es(source_image), G_et(image)]).
    """

    def __init__(self, config: TerGanConfig) -> None:
        super().__init__()
        self.config = config
        self.expression_encoder = ExpressionEncoder(config)
        self.identity_encoder = IdentityEncoder(config)
        self.decoder = Decoder(config)

    def forward(self, image: torch.Tensor, source_image: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.expression_encoder(source_image), self.identity_encoder(image))


@register("tergan_recognizer", paper=PAPER, config=TerGanConfig, inputs=(InputSpec("image", "image", 3),))
class TerGanRecognizer(nn.Module):
    """The detached expression encoder G_es with a shallow classifier (section 4.4).

    image: Bx3xNxN in [-1, 1] -> Bx8 expression logits (not an image; softmax gives probabilities
    over :data:`engine.geometry.labels.EXPRESSIONS`). ``encoder`` and ``classifier`` may be modules
    shared with a training :class:`TerGanGenerator`; by default new ones are made.
    """

    def __init__(
        self,
        config: TerGanConfig,
        encoder: ExpressionEncoder | None = None,
        classifier: CodeClassifier | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.encoder = encoder if encoder is not None else ExpressionEncoder(config)
        if classifier is None:
            classifier = CodeClassifier(config.expression_dim, config.n_expressions)
        self.classifier = classifier

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.encoder(image))
