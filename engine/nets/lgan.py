"""Paper 1: Li, Qi & Sun, "Facial Landmarks and Expression Label Guided Photorealistic Facial
Expression Synthesis" (IEEE Access) - the generator.

    image (B,3,N,N) ---- E_ini face ----> F^P_0 (B,4ngf,N/4,N/4) --+
    heatmap (B,68,N,N) - E_ini geometry -> F^S_0 (B,4ngf,N/4,N/4) --+-> T migration unit blocks
                                                                        (eq. 1-3, Table 1)
    F^P_T || label maps (B,8,N/4,N/4) -> facial decoder (Table 2) -> (B,3,N,N) in [-1,1]

The feature-initialise network E_ini, the migration units and the decoder follow the CycleGAN /
PATN generator the tables describe (Table 1 is PATN's two-stream block; Table 2 is CycleGAN's
decoder with ngf = 64: 32x32 -> 64x64x128 -> 128x128x64 -> 128x128x3 at N = 128).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from engine.geometry.labels import EXPRESSIONS
from engine.nets.blocks import DoubleConv, ResnetDecoder, ResnetEncoder, downsample_maps, init_normal
from engine.nets.registry import InputSpec, register


@dataclass(frozen=True)
class LganConfig:
    """Architecture of paper 1's generator.

    n_blocks: the paper says "several" migration unit blocks; 6 is CycleGAN's choice for 128 px
    inputs, whose generator Tables 1-2 follow. n_downsampling = 2 gives Table 2's 32x32 decoder
    input at 128 px. dropout: Table 1 lists a Dropout layer; 0.5 is the CycleGAN/PATN rate.
    """

    image_size: int = 128
    n_landmarks: int = 68
    n_labels: int = len(EXPRESSIONS)
    ngf: int = 64
    n_downsampling: int = 2
    n_blocks: int = 6
    dropout: float = 0.5

    def __post_init__(self) -> None:
        if self.image_size % 2**self.n_downsampling:
            raise ValueError(f"image_size {self.image_size} is not divisible by 2**{self.n_downsampling}")


class MigrationUnit(nn.Module):
    """One geometric-information migration unit block (paper 1, Fig. 2, eq. 1-3, Table 1).

    M_t   = sigmoid(conv_s(F^S_{t-1}))                  (1)
    F^P_t = M_t * conv_p(F^P_{t-1}) + F^P_{t-1}          (2)
    F^S_t = conv_s(F^S_{t-1}) || F^P_t                   (3)

    image_features F^P: (B, C, H, W). geometry_features F^S: (B, C, H, W) in the first block and
    (B, 2C, H, W) after it (eq. 3 concatenates). Returns (F^P_t (B,C,H,W), F^S_t (B,2C,H,W)).
    conv_p is Table 1's rows 1_1..1_8 (ends on batch norm), conv_s rows 2_1..2_7 (ends on the conv).
    """

    def __init__(self, channels: int, first: bool, dropout: float) -> None:
        super().__init__()
        geometry_in = channels if first else 2 * channels
        self.conv_p = DoubleConv(channels, channels, dropout=dropout, final_norm=True)
        self.conv_s = DoubleConv(geometry_in, channels, dropout=dropout, final_norm=False)

    def forward(
        self, image_features: torch.Tensor, geometry_features: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        geometry = self.conv_s(geometry_features)
        mask = torch.sigmoid(geometry)
        image_out = mask * self.conv_p(image_features) + image_features
        return image_out, torch.cat([geometry, image_out], dim=1)


class HierarchicalEncoder(nn.Module):
    """A chain of ``n_blocks`` migration units. (F^P_0, F^S_0), each (B,C,H,W) -> F^P_T (B,C,H,W)."""

    def __init__(self, channels: int, n_blocks: int, dropout: float) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(MigrationUnit(channels, i == 0, dropout) for i in range(n_blocks))

    def forward(self, image_features: torch.Tensor, geometry_features: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            image_features, geometry_features = block(image_features, geometry_features)
        return image_features


@register(
    "lgan",
    paper="Li, Qi & Sun: Facial Landmarks and Expression Label Guided Photorealistic Facial Expression Synthesis",
    config=LganConfig,
    inputs=(
        InputSpec("image", "image", 3),
        InputSpec("heatmap", "heatmap68", 68),
        InputSpec("labels", "label_maps", len(EXPRESSIONS)),
    ),
)
class LganGenerator(nn.Module):
    """Paper 1's generator G (Fig. 1): E_ini for face and geometry, hierarchical encoder, facial decoder.

    image: (B, 3, N, N) RGB in [-1, 1], the face to edit.
    heatmap: (B, 68, N, N) in [0, 1], Gaussian heatmaps of the target landmarks.
    labels: (B, L, N, N) label maps in [-1, 1] (Fig. 4), pooled to N/4 and concatenated before the decoder.
    Returns (B, 3, N, N) in [-1, 1].
    """

    def __init__(self, config: LganConfig) -> None:
        super().__init__()
        self.config = config
        self.e_ini_face = ResnetEncoder(3, config.ngf, config.n_downsampling)
        self.e_ini_geometry = ResnetEncoder(config.n_landmarks, config.ngf, config.n_downsampling)
        width = self.e_ini_face.out_channels
        self.encoder = HierarchicalEncoder(width, config.n_blocks, config.dropout)
        self.decoder = ResnetDecoder(width + config.n_labels, config.ngf, config.n_downsampling)
        init_normal(self)

    def forward(self, image: torch.Tensor, heatmap: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        features = self.encoder(self.e_ini_face(image), self.e_ini_geometry(heatmap))
        labels_small = downsample_maps(labels, 2**self.config.n_downsampling)
        return self.decoder(torch.cat([features, labels_small], dim=1))
