"""The contract every trainable family fulfils (pix2pix style: set_input, forward, optimize_parameters).

A batch is a dict of tensors produced by ``training.data``:

    src_image, tgt_image        (B, 3, N, N) float32 RGB in [-1, 1], aligned crops (engine.geometry.align)
    src_landmarks, tgt_landmarks (B, 68, 2) float32 crop pixels
    src_label, tgt_label        (B,) int64 indices into engine.geometry.labels.EXPRESSIONS
    tgt_intensity               (B,) float32, 1.0 when the dataset has no intensity
    person                      (B,) int64 person index within the dataset split
    other_image                 (B, 3, N, N) a different person showing tgt_label (paper 3's pairs)
    other_person                (B,) int64

Families build their conditions (heatmaps, label maps, landmark images) from these with
``engine.geometry.conditions``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

_TRAINING_MODELS: dict[str, type["TrainingModel"]] = {}


def register_training(name: str):
    """Class decorator: makes a TrainingModel available to ``fes-train fit`` under the family name."""

    def wrap(cls: type["TrainingModel"]) -> type["TrainingModel"]:
        if name in _TRAINING_MODELS:
            raise ValueError(f"training family {name!r} registered twice")
        cls.family = name
        _TRAINING_MODELS[name] = cls
        return cls

    return wrap


def training_model_cls(name: str) -> type["TrainingModel"]:
    from training import families  # noqa: F401  (registers the built-in families)

    try:
        return _TRAINING_MODELS[name]
    except KeyError:
        raise KeyError(f"unknown family {name!r}; known: {', '.join(sorted(_TRAINING_MODELS))}") from None


@dataclass(frozen=True)
class FeatureNets:
    """Frozen feature extractors the losses may use; None means that loss is off (never random weights).

    perceptual: image (B, 3, H, W) in [-1, 1] -> feature map; identity: image -> (B, D) embedding.
    """

    perceptual: nn.Module | None = None
    perceptual_name: str = "none"
    identity: nn.Module | None = None
    identity_name: str = "none"


@dataclass
class StepResult:
    losses: dict[str, float] = field(default_factory=dict)


class TrainingModel(ABC):
    """One family's networks, optimisers and losses.

    ``generator`` is the engine.nets module that is exported; everything else stays in training.
    """

    family: str = ""

    def __init__(self, arch: Any, loss: Any, features: FeatureNets, device: torch.device) -> None:
        self.arch = arch
        self.loss = loss
        self.features = features
        self.device = device
        self._replicas: dict[nn.Module, nn.Module] = {}

    generator: nn.Module

    @classmethod
    @abstractmethod
    def loss_config_cls(cls) -> type:
        """The frozen dataclass of this family's loss weights and optimiser settings (paper defaults)."""

    @abstractmethod
    def set_input(self, batch: dict[str, torch.Tensor]) -> None:
        """Move a batch to the device and build the conditions."""

    @abstractmethod
    def forward(self) -> torch.Tensor:
        """Run the generator(s) on the current input; returns the synthesised image."""

    @abstractmethod
    def optimize_parameters(self) -> dict[str, float]:
        """One training step (discriminators then generators); returns named loss values."""

    @abstractmethod
    def reconstruction_loss(self) -> float:
        """L1 between the synthesised and the real target image for the current input, no grad."""

    @abstractmethod
    def generator_inputs(self) -> tuple[torch.Tensor, ...]:
        """The exported generator's inputs for the current batch, in its InputSpec order."""

    @abstractmethod
    def networks(self) -> dict[str, nn.Module]:
        """Every network by name (for checkpoints and export; plain modules, never DDP wrappers)."""

    @abstractmethod
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Every optimiser by name (for checkpoints)."""

    def trained_networks(self) -> dict[str, nn.Module]:
        """The networks the optimisers train, by name: the units of data-parallel training, each run
        through :meth:`replica` in the training step. Together they must hold every optimised
        parameter, each once. Default: the networks() with parameters that require gradients; a
        family that trains parts of a network in different backward passes lists the parts."""
        return {name: net for name, net in self.networks().items() if any(p.requires_grad for p in net.parameters())}

    def replica(self, net: nn.Module) -> nn.Module:
        """What a training step calls to run ``net`` when the next backward pass trains it: under
        torchrun its DistributedDataParallel wrapper (training.distributed, whose docstring has the
        rules), otherwise ``net`` itself. Same inputs and outputs as ``net``; frozen networks, and
        everything outside the training step, use ``net``."""
        return self._replicas.get(net, net)

    def set_replicas(self, replicas: dict[nn.Module, nn.Module]) -> None:
        """Install the wrappers :meth:`replica` returns, keyed by plain network ({} removes them)."""
        self._replicas = dict(replicas)

    def auxiliary_networks(self) -> dict[str, tuple[str, nn.Module, tuple[torch.Tensor, ...]]]:
        """Extra networks exported beside the generator, by manifest role: role -> (engine.nets
        family name, which must be ``<family>_<role>``, the network, its inputs for the current
        batch). E.g. LandmarkGAN's stage I as "landmarks", TER-GAN's recogniser as "recognizer".
        None by default."""
        return {}

    def visuals(self) -> dict[str, torch.Tensor]:
        """Images for sample grids, (B, 3, N, N) in [-1, 1]; default: source, output, target."""
        return {}
