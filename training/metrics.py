"""Image-quality, identity, geometry and expression metrics of the five papers, on held-out people.

Images are aligned crops, (N, N, 3) uint8 BGR, unless a docstring says otherwise.

* PSNR, SSIM (papers 1, 2, 5): ``engine.quality``.
* feature distance: L2 between unit-length ImageNet MobileNetV2 embeddings of output and target.
* FID (paper 1) only with user-supplied Inception weights (TorchScript, the ``inception-2015-12-05.pt``
  of clean-fid / StyleGAN3, called as ``net(x, return_features=True)`` on (B, 3, 299, 299) RGB in
  0..255 -> (B, 2048)). Without them the offline variant is **FMD-mobilenet**: the same Fréchet
  distance on MobileNetV2 ImageNet embeddings; it is not FID and its values are not comparable.
* identity (paper 1's TAR @ FAR, rank-1): dlib's face-recognition ResNet (128-d) on the face chip
  from dlib's 5-point shape predictor, both shipped in ``face_recognition_models``; dlib treats
  distances below 0.6 as the same person.
* landmark error (paper 5, Table VI): mean per-point Euclidean distance between predicted and
  reference landmarks, in pixels of a 256 x 256 crop (paper 5's resolution; errors measured at
  crop size N are scaled by 256 / N), and normalised by the reference's outer-eye-corner distance
  (points 36 and 45; the 300-W NME convention).
* expression recognition accuracy (paper 4): top-1 accuracy of a classifier over EXPRESSIONS.
* Inception Score (paper 5's IS): exp(E_x KL(p(y|x) || p(y))) over a classifier's class
  probabilities. No ImageNet Inception network can be had offline, so the score is computed on
  the FER-2013 mini-Xception's seven expression classes (``IS-FER``, training.judges): it rewards
  edits that each read clearly as one expression and, together, as many; its values are not
  comparable with ImageNet IS (at most 7 here, at most 1000 there).
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.errors import FesError, NoFaceError
from engine.geometry.conditions import to_unit_range
from engine.quality import psnr, ssim
from training.features import FeatureError, MobileNetV2Features, is_torchscript, load_program

log = logging.getLogger(__name__)

__all__ = [
    "psnr",
    "ssim",
    "psnr_luma",
    "ssim_rgb",
    "FeatureDistance",
    "frechet_distance",
    "InceptionFid",
    "DlibIdentity",
    "dlib_face_box",
    "dlib_models",
    "verification_rates",
    "rank1",
    "landmark_error",
    "LandmarkError",
    "expression_accuracy",
    "inception_score",
    "load_classifier",
    "FMD_NAME",
]

FMD_NAME = "FMD-mobilenet"
DLIB_SAME_PERSON = 0.6
PAPER5_SIZE = 256
OUTER_EYE_CORNERS = (36, 45)


def psnr_luma(a: np.ndarray, b: np.ndarray) -> float:
    """Paper 2's PSNR: on the luminance (Y of BT.601 YCrCb) of two HxWx3 uint8 BGR images, in dB.

    :func:`psnr` (all three channels) stays as the project's own measure.
    """
    return psnr(cv2.cvtColor(a, cv2.COLOR_BGR2YCrCb)[..., 0], cv2.cvtColor(b, cv2.COLOR_BGR2YCrCb)[..., 0])


def ssim_rgb(a: np.ndarray, b: np.ndarray) -> float:
    """Paper 2's SSIM: the mean of the per-channel SSIMs of two HxWx3 uint8 images (colour, not luma).

    :func:`ssim` (on luma) stays as the project's own measure.
    """
    return float(np.mean([ssim(a[..., c], b[..., c]) for c in range(3)]))


class MetricError(FesError):
    """A metric's network is missing or its inputs do not fit."""


def images_to_tensor(images: list[np.ndarray], device: torch.device | str = "cpu") -> torch.Tensor:
    """List of (N, N, 3) uint8 BGR -> (B, 3, N, N) float32 RGB in [-1, 1]."""
    return torch.from_numpy(np.stack([to_unit_range(im) for im in images])).to(device)


class FeatureDistance:
    """MobileNetV2 ImageNet embeddings: per-pair distance and the Fréchet distance (FMD-mobilenet)."""

    name = "feature_distance-mobilenet_v2"

    def __init__(self, device: torch.device | str = "cpu", batch: int = 16) -> None:
        self.device = torch.device(device)
        self.net = MobileNetV2Features().to(self.device)
        self.batch = batch

    @torch.no_grad()
    def embed(self, images: list[np.ndarray]) -> np.ndarray:
        """(B, 1280) float64 embeddings (not normalised) of uint8 BGR images."""
        out = [
            self.net.embedding(images_to_tensor(images[i : i + self.batch], self.device)).double().cpu().numpy()
            for i in range(0, len(images), self.batch)
        ]
        return np.concatenate(out) if out else np.zeros((0, 1280))

    @staticmethod
    def pair_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """(B,) L2 distances between unit-length rows of two (B, D) embedding arrays, in 0..2."""
        a = a / np.linalg.norm(a, axis=1, keepdims=True)
        b = b / np.linalg.norm(b, axis=1, keepdims=True)
        return np.linalg.norm(a - b, axis=1)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two (n, D) feature sets (FID's formula, eq. 10 of paper 1).

    |mu_a - mu_b|^2 + Tr(S_a) + Tr(S_b) - 2 Tr((S_a S_b)^1/2). With centred, scaled data matrices
    A and B (S_a = A^T A), the last trace is the nuclear norm of A B^T, so no D x D matrix square
    root is needed and singular covariances (fewer images than features) are exact.
    """
    if len(a) < 2 or len(b) < 2:
        raise MetricError("the Fréchet distance needs at least two images on each side")
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    centred_a = (a - mu_a) / np.sqrt(len(a) - 1)
    centred_b = (b - mu_b) / np.sqrt(len(b) - 1)
    cross = np.linalg.svd(centred_a @ centred_b.T, compute_uv=False).sum()
    return float(((mu_a - mu_b) ** 2).sum() + (centred_a**2).sum() + (centred_b**2).sum() - 2 * cross)


class InceptionFid:
    """FID with the user's Inception TorchScript (see the module docstring for its contract)."""

    name = "FID"

    def __init__(self, path: str | Path, device: torch.device | str = "cpu", batch: int = 16) -> None:
        path = Path(path).expanduser()
        if not path.is_file() or not is_torchscript(path):
            raise MetricError(f"{path}: not a TorchScript Inception network (inception-2015-12-05.pt)")
        self.device = torch.device(device)
        self.net = torch.jit.load(str(path), map_location=self.device).eval()
        self.batch = batch

    @torch.no_grad()
    def features(self, images: list[np.ndarray]) -> np.ndarray:
        out = []
        for i in range(0, len(images), self.batch):
            x = (images_to_tensor(images[i : i + self.batch], self.device) + 1.0) * 127.5
            x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
            out.append(self.net(x, return_features=True).double().cpu().numpy())
        return np.concatenate(out)

    def __call__(self, real: list[np.ndarray], fake: list[np.ndarray]) -> float:
        return frechet_distance(self.features(real), self.features(fake))


def dlib_models() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise MetricError("dlib face models are not installed (package face_recognition_models)")
    return Path(list(spec.submodule_search_locations)[0]) / "models"


def dlib_face_box(dlib: Any, detector: Any, rgb: np.ndarray, upsample: int, landmarks: np.ndarray | None) -> Any:
    """The largest face dlib's HOG ``detector`` finds in an RGB image, else the bounding box of
    ``landmarks`` ((K, 2) pixels) when given, else None; a ``dlib.rectangle``."""
    boxes = list(detector(rgb, upsample))
    if boxes:
        return max(boxes, key=lambda r: r.area())
    if landmarks is None:
        return None
    (x0, y0), (x1, y1) = np.floor(landmarks.min(0)), np.ceil(landmarks.max(0))
    return dlib.rectangle(int(x0), int(y0), int(x1), int(y1))


class DlibIdentity:
    """dlib's face-recognition ResNet: 128-d descriptors and distances between faces."""

    name = "dlib_resnet_v1"

    def __init__(self, upsample: int = 1) -> None:
        import dlib

        models = dlib_models()
        self._dlib = dlib
        self._detector = dlib.get_frontal_face_detector()
        self._shape = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
        self._net = dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat"))
        self.upsample = upsample

    def descriptor(self, image: np.ndarray, landmarks: np.ndarray | None = None) -> np.ndarray:
        """(128,) float64 descriptor of the largest face in a uint8 BGR image.

        The face is found by dlib's HOG detector; when it finds none and ``landmarks`` ((K, 2)
        pixels of this image) are given, their bounding box is used instead. Raises NoFaceError.
        """
        rgb = np.ascontiguousarray(image[:, :, ::-1])
        box = dlib_face_box(self._dlib, self._detector, rgb, self.upsample, landmarks)
        if box is None:
            raise NoFaceError("dlib found no face for the identity descriptor")
        shape = self._shape(rgb, box)
        return np.asarray(self._net.compute_face_descriptor(rgb, shape), dtype=np.float64)

    def distance(self, a: np.ndarray, b: np.ndarray) -> float:
        """Euclidean distance between the descriptors of two uint8 BGR face images."""
        return float(np.linalg.norm(self.descriptor(a) - self.descriptor(b)))


def verification_rates(genuine: np.ndarray, impostor: np.ndarray, fars: tuple[float, ...] = (0.01, 0.001)) -> dict[str, float]:
    """TAR at each FAR (paper 1, Table 6): the distance threshold that accepts ``far`` of the impostor
    pairs, and the fraction of genuine pairs it accepts. Also the TAR at dlib's own 0.6 threshold."""
    genuine, impostor = np.asarray(genuine, float), np.asarray(impostor, float)
    if not len(genuine) or not len(impostor):
        raise MetricError("verification needs genuine and impostor pairs")
    out = {}
    for far in fars:
        threshold = np.quantile(impostor, far, method="lower")
        out[f"TAR@FAR={far:g}"] = float((genuine < threshold).mean()) if far * len(impostor) >= 1 else float("nan")
    out["TAR@0.6"] = float((genuine < DLIB_SAME_PERSON).mean())
    out["FAR@0.6"] = float((impostor < DLIB_SAME_PERSON).mean())
    return out


def rank1(probes: np.ndarray, probe_people: list[str], gallery: np.ndarray, gallery_people: list[str]) -> float:
    """Fraction of probes whose nearest gallery descriptor belongs to the same person."""
    distances = np.linalg.norm(probes[:, None, :] - gallery[None, :, :], axis=2)
    nearest = distances.argmin(axis=1)
    return float(np.mean([gallery_people[j] == p for j, p in zip(nearest, probe_people)]))


@dataclass(frozen=True)
class LandmarkError:
    l2_px256: float  # mean per-point distance in pixels of a 256 x 256 crop
    nme_interocular: float  # mean per-point distance / outer-eye-corner distance of the reference
    count: int


def landmark_error(predicted: np.ndarray, reference: np.ndarray, size: int) -> LandmarkError:
    """predicted, reference: (B, 68, 2) crop pixels at crop size ``size``."""
    predicted, reference = np.asarray(predicted, np.float64), np.asarray(reference, np.float64)
    if predicted.shape != reference.shape or predicted.ndim != 3:
        raise MetricError(f"landmark shapes differ: {predicted.shape} vs {reference.shape}")
    per_point = np.linalg.norm(predicted - reference, axis=2)  # (B, 68)
    i, j = OUTER_EYE_CORNERS
    interocular = np.linalg.norm(reference[:, i] - reference[:, j], axis=1)  # (B,)
    return LandmarkError(
        l2_px256=float(per_point.mean() * PAPER5_SIZE / size),
        nme_interocular=float((per_point.mean(axis=1) / interocular).mean()),
        count=len(predicted),
    )


def inception_score(probabilities: np.ndarray) -> float:
    """exp(mean KL(p(y|x) || p(y))) of (N, C) class probabilities (rows sum to 1): 1 when every
    row is the same distribution, C when every row is certain and the classes are used equally."""
    p = np.clip(np.asarray(probabilities, dtype=np.float64), 1e-12, 1.0)
    if p.ndim != 2 or len(p) == 0:
        raise MetricError(f"inception_score needs (N, C) probabilities, got shape {p.shape}")
    p = p / p.sum(axis=1, keepdims=True)
    marginal = p.mean(axis=0, keepdims=True)
    return float(np.exp(np.mean(np.sum(p * (np.log(p) - np.log(marginal)), axis=1))))


@torch.no_grad()
def expression_accuracy(classifier: nn.Module, images: list[np.ndarray], labels: list[int], size: int, batch: int = 16) -> float:
    """Top-1 accuracy of ``classifier`` ((B, 3, S, S) RGB in [-1, 1] -> (B, L) logits over EXPRESSIONS)."""
    correct = 0
    for i in range(0, len(images), batch):
        x = images_to_tensor(images[i : i + batch])
        if x.shape[-1] != size:
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        predicted = classifier(x).argmax(dim=1).cpu().numpy()
        correct += int((predicted == np.asarray(labels[i : i + batch])).sum())
    return correct / max(len(images), 1)


def load_classifier(path: str | Path) -> nn.Module:
    """A user's expression classifier (torch.export ``.pt2`` or TorchScript) with the contract of
    :func:`expression_accuracy`."""
    path = Path(path).expanduser()
    if not path.is_file() or not (path.suffix == ".pt2" or is_torchscript(path)):
        raise MetricError(f"{path}: not a torch.export (.pt2) or TorchScript expression classifier")
    try:
        return load_program(path)
    except FeatureError as exc:
        raise MetricError(str(exc)) from exc
