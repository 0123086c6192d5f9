"""Template for a new generator family: copy this file to ``engine/nets/<name>.py`` and edit.

Adding a family takes five steps:

1. An architecture config: a frozen dataclass with ``image_size`` (default 128) and every width,
   depth and rate the network needs, paper values as defaults. It is saved in checkpoints and in
   the manifest's ``architecture``, so the network rebuilds from it alone; run-time switches do
   not belong in it.
2. The generator: one ``nn.Module`` whose ``__init__`` takes only the config and whose ``forward``
   takes its inputs in the order of ``inputs`` and returns one (B, 3, N, N) RGB image in [-1, 1].
   It must export to ONNX: no Python branches on tensor values, no shapes read from the data
   except the batch axis. Build it from ``engine.nets.blocks``; docstrings give tensor shapes.
3. ``@register(name, paper=..., config=..., inputs=...)`` on the generator. Each ``InputSpec``
   names one input and its kind (``engine.nets.registry.INPUT_KINDS``); the app builds its
   controls and the runtime its conditions from these kinds.
4. One import line in ``engine/nets/families.py`` so the family registers itself.
5. A ``TrainingModel`` subclass in ``training/families/<name>.py`` decorated with
   ``@register_training(name)``: discriminators, losses with the paper's weights in a frozen loss
   dataclass, optimisers; then tests in ``tests/training/test_family_<name>.py`` for the paper's
   tensor shapes, a short overfit on real pairs and the ONNX export.

This module is not imported by ``families.py``: the template is an example, not a shipped family.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from engine.geometry.labels import EXPRESSIONS
from engine.nets.blocks import ResnetBlock, ResnetDecoder, ResnetEncoder, init_normal, tile_vector
from engine.nets.registry import InputSpec, register


@dataclass(frozen=True)
class TemplateConfig:
    """Architecture: widths and depths only, with the paper's values as defaults."""

    image_size: int = 128
    n_labels: int = len(EXPRESSIONS)
    ngf: int = 64
    n_downsampling: int = 2
    n_blocks: int = 6


@register(
    "template",
    paper="(the paper's authors and title)",
    config=TemplateConfig,
    inputs=(InputSpec("image", "image", 3), InputSpec("label", "label_onehot", len(EXPRESSIONS))),
)
class TemplateGenerator(nn.Module):
    """A label-conditioned ResNet generator.

    image: (B, 3, N, N) RGB in [-1, 1]. label: (B, L) one-hot, optionally scaled by intensity.
    Returns (B, 3, N, N) in [-1, 1].
    """

    def __init__(self, config: TemplateConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = ResnetEncoder(3 + config.n_labels, config.ngf, config.n_downsampling)
        width = self.encoder.out_channels
        self.blocks = nn.Sequential(*(ResnetBlock(width) for _ in range(config.n_blocks)))
        self.decoder = ResnetDecoder(width, config.ngf, config.n_downsampling)
        init_normal(self)

    def forward(self, image: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        x = torch.cat([image, tile_vector(label, self.config.image_size)], dim=1)
        return self.decoder(self.blocks(self.encoder(x)))
