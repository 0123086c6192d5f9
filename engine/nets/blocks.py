"""Building blocks shared by the generator families (pix2pix / CycleGAN conventions).

Every block takes and returns ``(B, C, H, W)`` float tensors and contains no data-dependent Python
control flow, so the generators built from them export to ONNX. Layers followed by batch norm
carry no bias (the norm's shift replaces it), as in the pix2pix code the papers build on.

    ConvNormAct     one conv (optional reflection pad) + optional batch norm + activation
    DoubleConv      the two 3x3 "weight layers" of a residual block (paper 1, Fig. 3 / Table 1)
    ResnetBlock     x + DoubleConv(x)
    ResnetEncoder   c7s1-ngf, then stride-2 3x3 downsamplings (CycleGAN's generator head)
    ResnetDecoder   stride-2 3x3 transposed convs, then c7s1-out + tanh (CycleGAN's generator tail)
    UNet            pix2pix's U-Net: stride-2 4x4 convs down to 1x1, mirrored with skip connections
    tile_vector, downsample_maps, init_normal
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

ACTIVATIONS = ("relu", "lrelu", "tanh", "none")


def _activation(name: str) -> list[nn.Module]:
    if name == "relu":
        return [nn.ReLU(inplace=True)]
    if name == "lrelu":
        return [nn.LeakyReLU(0.2, inplace=True)]
    if name == "tanh":
        return [nn.Tanh()]
    if name == "none":
        return []
    raise ValueError(f"unknown activation {name!r}; known: {', '.join(ACTIVATIONS)}")


class ConvNormAct(nn.Sequential):
    """[ReflectionPad] -> Conv2d -> [BatchNorm2d] -> [activation: relu, lrelu (0.2), tanh or none].

    x: (B, in_channels, H, W) -> (B, out_channels, H', W') with the usual conv arithmetic.
    ``reflect_pad`` > 0 pads by reflection first and the conv itself then pads nothing
    (paper 1's layers); otherwise the conv zero-pads by ``padding``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        *,
        reflect_pad: int = 0,
        norm: bool = True,
        act: str = "relu",
    ) -> None:
        layers: list[nn.Module] = []
        if reflect_pad:
            layers.append(nn.ReflectionPad2d(reflect_pad))
        layers.append(
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, 0 if reflect_pad else padding, bias=not norm)
        )
        if norm:
            layers.append(nn.BatchNorm2d(out_channels))
        layers += _activation(act)
        super().__init__(*layers)


class DoubleConv(nn.Sequential):
    """Two reflection-padded 3x3 convs: pad, conv, BN, ReLU, dropout, pad, conv, [BN].

    x: (B, in_channels, H, W) -> (B, out_channels, H, W). The first conv keeps ``in_channels``
    (as in the CycleGAN / PATN code); ``final_norm`` False ends on the bare conv (paper 1, Table 1,
    rows 2_1..2_7, whose output feeds a sigmoid).
    """

    def __init__(self, in_channels: int, out_channels: int, *, dropout: float = 0.0, final_norm: bool = True) -> None:
        layers: list[nn.Module] = [ConvNormAct(in_channels, in_channels, 3, reflect_pad=1)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers.append(ConvNormAct(in_channels, out_channels, 3, reflect_pad=1, norm=final_norm, act="none"))
        super().__init__(*layers)


class ResnetBlock(nn.Module):
    """x + DoubleConv(x); x: (B, C, H, W) -> (B, C, H, W)."""

    def __init__(self, channels: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.body = DoubleConv(channels, channels, dropout=dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetEncoder(nn.Sequential):
    """CycleGAN's generator head: c7s1-ngf, then ``n_down`` stride-2 3x3 convs doubling the width.

    x: (B, in_channels, N, N) -> (B, ngf * 2**n_down, N / 2**n_down, N / 2**n_down).
    """

    def __init__(self, in_channels: int, ngf: int, n_down: int) -> None:
        layers: list[nn.Module] = [ConvNormAct(in_channels, ngf, 7, reflect_pad=3)]
        for i in range(n_down):
            layers.append(ConvNormAct(ngf * 2**i, ngf * 2 ** (i + 1), 3, stride=2, padding=1))
        super().__init__(*layers)
        self.out_channels = ngf * 2**n_down


class ResnetDecoder(nn.Sequential):
    """CycleGAN's generator tail: ``n_up`` stride-2 3x3 transposed convs halving towards ``ngf``,
    then reflection pad 3, 7x7 conv to ``out_channels`` and tanh.

    x: (B, in_channels, M, M) -> (B, out_channels, M * 2**n_up, M * 2**n_up) in [-1, 1].
    """

    def __init__(self, in_channels: int, ngf: int, n_up: int, out_channels: int = 3) -> None:
        layers: list[nn.Module] = []
        width = in_channels
        for i in range(n_up):
            out = ngf * 2 ** (n_up - 1 - i)
            layers += [
                nn.ConvTranspose2d(width, out, 3, stride=2, padding=1, output_padding=1, bias=False),
                nn.BatchNorm2d(out),
                nn.ReLU(inplace=True),
            ]
            width = out
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(width, out_channels, 7), nn.Tanh()]
        super().__init__(*layers)


class UNetDown(nn.Sequential):
    """One U-Net encoder step: [LeakyReLU 0.2] -> 4x4 stride-2 conv -> [BN].

    x: (B, in_channels, H, W) -> (B, out_channels, H/2, W/2). The outermost step has no
    activation before it and no norm; the innermost has no norm (pix2pix).
    """

    def __init__(self, in_channels: int, out_channels: int, *, act: bool = True, norm: bool = True) -> None:
        layers: list[nn.Module] = [nn.LeakyReLU(0.2, inplace=False)] if act else []
        layers.append(nn.Conv2d(in_channels, out_channels, 4, stride=2, padding=1, bias=not norm))
        if norm:
            layers.append(nn.BatchNorm2d(out_channels))
        super().__init__(*layers)


class UNetUp(nn.Sequential):
    """One U-Net decoder step: ReLU -> 4x4 stride-2 transposed conv -> BN [-> dropout], or, for the
    outermost step, ReLU -> transposed conv -> tanh.

    x: (B, in_channels, H, W) -> (B, out_channels, 2H, 2W).
    """

    def __init__(self, in_channels: int, out_channels: int, *, outermost: bool = False, dropout: float = 0.0) -> None:
        layers: list[nn.Module] = [
            nn.ReLU(inplace=False),
            nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1, bias=outermost),
        ]
        if outermost:
            layers.append(nn.Tanh())
        else:
            layers.append(nn.BatchNorm2d(out_channels))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
        super().__init__(*layers)


class UNet(nn.Module):
    """pix2pix's U-Net generator (Isola et al. 2017, ``UnetGenerator``), written flat.

    ``num_downs`` stride-2 steps take an N x N input to N / 2**num_downs (1 x 1 when
    num_downs = log2 N, pix2pix's ``unet_128`` / ``unet_256``). Encoder widths are
    ngf, 2ngf, 4ngf, 8ngf, 8ngf, ... (capped at ``max_mult`` * ngf); each decoder step sees its input concatenated with the
    mirrored encoder output. The decoder steps below the 8ngf -> 4ngf step use dropout.

    x: (B, in_channels, N, N) -> (B, out_channels, N, N) in [-1, 1].
    """

    def __init__(self, in_channels: int, out_channels: int, ngf: int, num_downs: int, dropout: float = 0.5,
                 max_mult: int = 8) -> None:
        super().__init__()
        if num_downs < 5:
            raise ValueError(f"a pix2pix U-Net needs at least 5 downsamplings, got {num_downs}")
        widths = [ngf * min(2**i, max_mult) for i in range(num_downs)]
        downs = [UNetDown(in_channels, widths[0], act=False, norm=False)]
        for i in range(1, num_downs):
            downs.append(UNetDown(widths[i - 1], widths[i], norm=i < num_downs - 1))
        ups = []
        for i in range(num_downs - 1, 0, -1):
            width_in = widths[i] if i == num_downs - 1 else widths[i] * 2
            with_dropout = dropout if i < num_downs - 1 and widths[i] == widths[i - 1] == ngf * 8 else 0.0
            ups.append(UNetUp(width_in, widths[i - 1], dropout=with_dropout))
        ups.append(UNetUp(widths[0] * 2, out_channels, outermost=True))
        self.downs = nn.ModuleList(downs)
        self.ups = nn.ModuleList(ups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for down in self.downs:
            x = down(x)
            skips.append(x)
        x = self.ups[0](skips[-1])
        for up, skip in zip(self.ups[1:], reversed(skips[:-1])):
            x = up(torch.cat([skip, x], dim=1))
        return x


def unet_depth(image_size: int) -> int:
    """log2(image_size): the number of downsamplings that take a pix2pix U-Net to 1 x 1."""
    depth = int(round(math.log2(image_size)))
    if 2**depth != image_size:
        raise ValueError(f"image_size must be a power of two for a U-Net, got {image_size}")
    return depth


def tile_vector(vector: torch.Tensor, size: int) -> torch.Tensor:
    """(B, L) -> (B, L, size, size): each entry spread into a constant map (StarGAN-style conditioning)."""
    return vector[:, :, None, None].expand(-1, -1, size, size)


def downsample_maps(maps: torch.Tensor, factor: int) -> torch.Tensor:
    """(B, C, N, N) -> (B, C, N / factor, N / factor) by average pooling; exact for constant label maps."""
    return F.avg_pool2d(maps, factor) if factor > 1 else maps


def init_normal(module: nn.Module, std: float = 0.02) -> None:
    """pix2pix's 'normal' init: conv weights ~ N(0, std), biases 0, batch-norm scale ~ N(1, std), shift 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)
