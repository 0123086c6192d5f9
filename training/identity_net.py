"""A face-identity network distilled from dlib's face-recognition ResNet, for the identity losses.

The trainers' identity terms (G2-GAN's L_ip, LandmarkGAN's eq. 8, paper 3's triplet) need a
differentiable face-recognition network; dlib's ResNet (``training.metrics.DlibIdentity``) is the
project's identity judge but not differentiable. The student here is
:class:`training.features.MobileNetV2Embedding` (ImageNet MobileNetV2 trunk, Linear(1280, 128)),
fitted by ``fes-train distill-identity`` (:mod:`training.identity_distill`) so that its unit
embedding of an aligned face crop matches dlib's descriptor of the same crop, divided by its norm.

A distilled folder (``resources/models/identity-distilled/``) holds:

* ``identity.safetensors``: the student's state dict, every float tensor in float16, readable by
  :func:`training.features.load_identity_net` as any MobileNetV2Embedding;
* ``identity.json``: :class:`IdentityManifest` (input size, the same-person threshold, how it was
  fitted and what it scored on the held-out people). It is deliberately not named
  ``manifest.json``: that name marks a generator folder for ``engine``'s model list.

``features.identity_weights`` in an experiment config may name the folder (training.config reads
the manifest); the loss network then sees the family's crops, (B, 3, N, N) RGB in [-1, 1].
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import resources
from training.features import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    FeatureError,
    IdentityNet,
    MobileNetV2Embedding,
    MobileNetV2Features,
    load_identity_net,
)

MANIFEST_NAME = "identity.json"
WEIGHTS_NAME = "identity.safetensors"
DEFAULT_FOLDER = resources.MODELS / "identity-distilled"
ARCHITECTURE = "MobileNetV2Embedding"
DLIB_THRESHOLD = 0.6  # dlib's own same-person distance on its raw descriptors


@dataclass(frozen=True)
class IdentityManifest:
    """What a distilled identity folder holds.

    input_size: the square size S the student sees (crops are resized to it). threshold: the
    distance between unit embeddings that stands for dlib's 0.6 on raw descriptors (fitted on the
    teacher's descriptors of dev faces, see :func:`equivalent_threshold`). training / heldout:
    how it was fitted and its held-out figures (``fes-train distill-identity`` writes both).
    """

    name: str
    architecture: str
    dim: int
    input_size: int
    teacher: str
    threshold: float
    weights: str
    sha256: str
    training: dict[str, Any] = field(default_factory=dict)
    heldout: dict[str, Any] = field(default_factory=dict)
    licence: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1) + "\n"

    @classmethod
    def read(cls, folder: str | Path) -> "IdentityManifest":
        """The manifest of ``folder``; raises FeatureError when it is missing or malformed."""
        path = Path(folder) / MANIFEST_NAME
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            manifest = cls(**data)
        except FileNotFoundError:
            raise FeatureError(f"{folder}: not a distilled identity folder (no {MANIFEST_NAME})") from None
        except (OSError, ValueError, TypeError) as exc:
            raise FeatureError(f"{path}: not an identity manifest ({exc})") from exc
        if manifest.architecture != ARCHITECTURE:
            raise FeatureError(f"{path}: architecture {manifest.architecture!r}; this version reads {ARCHITECTURE!r}")
        return manifest


def folder_weights(folder: str | Path) -> tuple[Path, int]:
    """(weights file, input size) of a distilled identity folder, its checksum verified."""
    manifest = IdentityManifest.read(folder)
    weights = Path(folder) / manifest.weights
    if not weights.is_file():
        raise FeatureError(f"{folder}: weights file {manifest.weights} is missing")
    if hashlib.sha256(weights.read_bytes()).hexdigest() != manifest.sha256:
        raise FeatureError(f"{weights}: checksum differs from {MANIFEST_NAME} (damaged or replaced)")
    return weights, manifest.input_size


def load_distilled(folder: str | Path = DEFAULT_FOLDER) -> IdentityNet:
    """The frozen distilled network of ``folder``: (B, 3, H, W) RGB in [-1, 1] -> (B, 128) unit rows."""
    weights, size = folder_weights(folder)
    return load_identity_net(weights, size)


def new_student(dim: int = 128) -> MobileNetV2Embedding:
    """A student to fit: the ImageNet MobileNetV2 trunk with the ImageNet input normalisation folded
    into its first convolution, so it takes (B, 3, S, S) RGB in [-1, 1] as the families' crops are.

    x_imagenet = x / (2 std) + (0.5 - mean) / std: the scale goes into the first convolution's
    weights and the offset (its response through the kernel) into the batch norm's running mean,
    exact away from the zero-padded border.
    """
    student = MobileNetV2Embedding(dim)
    student.backbone.features.load_state_dict(MobileNetV2Features().net.features.state_dict())
    conv, norm = student.backbone.features[0][0], student.backbone.features[0][1]
    mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
    with torch.no_grad():
        offset = (conv.weight.sum(dim=(2, 3)) * ((0.5 - mean) / std)).sum(dim=1)  # (32,)
        conv.weight.mul_((1.0 / (2.0 * std)).view(1, 3, 1, 1))
        norm.running_mean.sub_(offset)
    return student


def student_embedding(net: nn.Module, image: torch.Tensor, input_size: int) -> torch.Tensor:
    """The training-time forward of :class:`training.features.IdentityNet`, gradients to the weights:
    (B, 3, H, W) RGB in [-1, 1] -> resized to input_size -> (B, D) unit rows (float32)."""
    if image.shape[-2:] != (input_size, input_size):
        image = F.interpolate(image, size=(input_size, input_size), mode="bilinear", align_corners=False)
    return F.normalize(net(image).float().flatten(1), dim=1)


def storage_state(net: MobileNetV2Embedding) -> dict[str, torch.Tensor]:
    """The state dict as stored: every float tensor in float16 (the file stays under 5 MB); the
    network evaluated and shipped is :func:`round_to_storage`'s, so figures hold for the file."""
    return {k: (v.half() if v.is_floating_point() else v).detach().cpu().contiguous() for k, v in net.state_dict().items()}


def round_to_storage(net: MobileNetV2Embedding) -> None:
    """Round the network's weights in place to what :func:`storage_state` keeps."""
    net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in storage_state(net).items()})


def unit_rows(descriptors: np.ndarray) -> np.ndarray:
    """(N, D) rows divided by their norms."""
    return descriptors / np.linalg.norm(descriptors, axis=1, keepdims=True)


def pair_distances(embeddings: np.ndarray) -> np.ndarray:
    """(N, D) -> (N (N - 1) / 2,) Euclidean distances of the pairs i < j, row-major."""
    i, j = np.triu_indices(len(embeddings), k=1)
    return np.linalg.norm(embeddings[i] - embeddings[j], axis=1)


def same_pairs(people: list[str]) -> np.ndarray:
    """(N (N - 1) / 2,) bool: pair i < j shows one person, in :func:`pair_distances` order."""
    i, j = np.triu_indices(len(people), k=1)
    labels = np.asarray(people)
    return labels[i] == labels[j]


def equivalent_threshold(descriptors: np.ndarray) -> float:
    """The distance between unit-length descriptors that agrees best with dlib's 0.6 on the raw
    descriptors (N, 128) of the same faces, over all their pairs."""
    raw, unit = pair_distances(descriptors), pair_distances(unit_rows(descriptors))
    order = np.argsort(unit)
    unit, accepted = unit[order], raw[order] < DLIB_THRESHOLD
    # A threshold just above unit[k] accepts pairs 0..k: agreement = accepted among them + rejected after.
    agree = np.cumsum(accepted) + (np.sum(~accepted) - np.cumsum(~accepted))
    k = int(np.argmax(agree))
    upper = unit[k + 1] if k + 1 < len(unit) else unit[k] + 1e-3
    return float((unit[k] + upper) / 2)


def ranking_auc(distances: np.ndarray, same: np.ndarray) -> float:
    """P(a same-person pair is closer than a different-person pair), ties counted half (0.5: chance)."""
    ranks = _ranks(distances)
    n_same, n_diff = int(same.sum()), int((~same).sum())
    if not n_same or not n_diff:
        raise ValueError("the ranking needs same-person and different-person pairs")
    u = ranks[same].sum() - n_same * (n_same + 1) / 2  # Mann-Whitney U of the same-person pairs
    return float(1.0 - u / (n_same * n_diff))


def _ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties given their mean rank."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(1, len(values) + 1)
    unique, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return (sums / counts)[inverse]


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two equal-length samples."""
    return float(np.corrcoef(_ranks(a), _ranks(b))[0, 1])


def verification(distances: np.ndarray, same: np.ndarray, threshold: float) -> dict[str, float]:
    """TAR (same-person pairs accepted) and FAR (different-person pairs accepted) at ``threshold``."""
    accept = distances < threshold
    return {"TAR": float(accept[same].mean()), "FAR": float(accept[~same].mean())}
