"""The strict held-out measurement protocol of issues 8 and 9.

Every output and every reference is measured the same way: MediaPipe's 478 points are detected
on the image itself (photo mode, no smoothing), and the image and its points are mapped into a
256 px crop by a least-squares similarity fitted on ten points that do not move with expression
(eye corners, nose bridge and tip) onto one FIXED layout, the shape model's mean neutral shape
placed like ``engine.geometry.align``'s canonical crop (eye centres 0.30 of the crop apart, at
y = 0.38). Nothing in the protocol uses the landmarks the generator was asked to reach, so an
output that did not move the face scores as the input it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from engine.face.tracker import FaceTracker, TrackerOptions
from engine.geometry.align import similarity, transform_points
from engine.geometry.shape_model import ShapeModel
from engine.quality import psnr, ssim
from engine.synthesis.warp import warp_face

CROP_SIZE = 256
# Eye corners (33, 133, 362, 263), nose bridge (168, 6, 197, 195) and tip (5, 4).
STABLE_MESH: tuple[int, ...] = (33, 133, 362, 263, 168, 6, 197, 195, 5, 4)
# MediaPipe FACEMESH_LIPS: outer contour (20) then inner contour (20).
LIPS_OUTER: tuple[int, ...] = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375,
                               291, 409, 270, 269, 267, 0, 37, 39, 40, 185)
LIPS_INNER: tuple[int, ...] = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324,
                               308, 415, 310, 311, 312, 13, 82, 81, 80, 191)
LIPS40: tuple[int, ...] = LIPS_OUTER + LIPS_INNER
MOUTH_CORNERS: tuple[int, int] = (61, 291)
EYE_OUTER: tuple[int, int] = (33, 263)
MOUTH_MARGIN = 0.25
# Canonical crop of engine.geometry.align: eye centres 0.30 of the crop apart, centred, at y = 0.38.
_EYE_SPAN, _EYE_Y = 0.30, 0.38


@dataclass(frozen=True)
class ProtocolCrop:
    """image: (256, 256, 3) uint8 BGR crop; mesh: (478, 2) float64 crop pixels;
    matrix: (2, 3) float64 image -> crop similarity."""

    image: np.ndarray
    mesh: np.ndarray
    matrix: np.ndarray


@lru_cache(maxsize=1)
def reference_layout() -> np.ndarray:
    """(478, 2) float64 fixed layout in 256 px crop pixels: the shape model's mean neutral shape
    (face units: origin between the eyes, one unit = inter-ocular distance) scaled and placed
    like the canonical crop."""
    mean = np.asarray(ShapeModel.load().mean, dtype=np.float64)
    return (mean * _EYE_SPAN + np.array([0.5, _EYE_Y])) * CROP_SIZE


def stable_similarity(mesh_from: np.ndarray, mesh_to: np.ndarray) -> np.ndarray:
    """(2, 3) least-squares similarity taking the stable points of ``mesh_from`` onto ``mesh_to``'s."""
    idx = list(STABLE_MESH)
    return similarity(np.asarray(mesh_from, np.float64)[idx], np.asarray(mesh_to, np.float64)[idx])


def protocol_crop(image: np.ndarray, mesh478: np.ndarray) -> ProtocolCrop:
    """Map a (H, W, 3) uint8 BGR image and its own (478, 2) pixel mesh into the protocol crop."""
    m = stable_similarity(mesh478, reference_layout())
    crop = cv2.warpAffine(image, m, (CROP_SIZE, CROP_SIZE), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
    return ProtocolCrop(image=crop, mesh=transform_points(np.asarray(mesh478, np.float64), m), matrix=m)


class MeshDetector:
    """Raw (unsmoothed) photo-mode MediaPipe meshes for the protocol; closes with ``with``."""

    def __init__(self) -> None:
        self._tracker = FaceTracker.create(TrackerOptions(smoothing=None))

    def __enter__(self) -> "MeshDetector":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._tracker.close()

    def mesh(self, image: np.ndarray) -> np.ndarray:
        """(478, 2) float64 pixel mesh of the largest face of a uint8 BGR image (raises NoFaceError)."""
        return np.asarray(self._tracker.detect(image).face.mesh, dtype=np.float64)

    def crop(self, image: np.ndarray) -> ProtocolCrop:
        """Detect the face of ``image`` and return its protocol crop."""
        return protocol_crop(image, self.mesh(image))


def interocular(mesh: np.ndarray) -> float:
    """Distance between the outer eye corners (points 33 and 263) of a (478, 2) mesh."""
    return float(np.linalg.norm(mesh[EYE_OUTER[0]] - mesh[EYE_OUTER[1]]))


def mouth_error(mesh_out_crop: np.ndarray, mesh_ref_crop: np.ndarray) -> float:
    """Mean distance of the 40 lip points between two crop meshes, in units of the reference's
    33-263 distance (both (478, 2) protocol-crop pixels)."""
    idx = list(LIPS40)
    d = np.linalg.norm(np.asarray(mesh_out_crop)[idx] - np.asarray(mesh_ref_crop)[idx], axis=1)
    return float(d.mean() / interocular(np.asarray(mesh_ref_crop)))


def crop_ssim(out: ProtocolCrop, ref: ProtocolCrop) -> float:
    """SSIM (luma) of the whole 256 px crops."""
    return ssim(out.image, ref.image)


def crop_psnr(out: ProtocolCrop, ref: ProtocolCrop) -> float:
    """PSNR in dB of the whole 256 px crops."""
    return psnr(out.image, ref.image)


def mouth_box(mesh_crop: np.ndarray) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) crop pixels: the 40 lip points' box plus 25 % margin on each side."""
    pts = np.asarray(mesh_crop)[list(LIPS40)]
    (x0, y0), (x1, y1) = pts.min(0), pts.max(0)
    mx, my = (x1 - x0) * MOUTH_MARGIN, (y1 - y0) * MOUTH_MARGIN
    lo = np.clip(np.floor([x0 - mx, y0 - my]), 0, CROP_SIZE).astype(int)
    hi = np.clip(np.ceil([x1 + mx, y1 + my]), 0, CROP_SIZE).astype(int)
    return int(lo[0]), int(lo[1]), int(hi[0]), int(hi[1])


def mouth_ssim(out: ProtocolCrop, ref: ProtocolCrop) -> float:
    """SSIM inside the reference's mouth box (``mouth_box`` of ``ref.mesh``)."""
    x0, y0, x1, y1 = mouth_box(ref.mesh)
    return ssim(out.image[y0:y1, x0:x1], ref.image[y0:y1, x0:x1])


def corner_lift(mesh_crop: np.ndarray) -> float:
    """Mean height of the mouth corners (61, 291) above the mouth centre line (lip points 0 and 17),
    in 33-263 distances; larger when the corners rise (a smile)."""
    m = np.asarray(mesh_crop)
    centre_y = (m[0, 1] + m[17, 1]) / 2
    return float((centre_y - m[list(MOUTH_CORNERS), 1].mean()) / interocular(m))


def oracle_warp(neutral_img: np.ndarray, neutral_face: np.ndarray, smile_face: np.ndarray) -> np.ndarray:
    """The oracle baseline: the neutral photo warped onto the real smile's own 478 landmarks.

    neutral_img: (H, W, 3) uint8 BGR; neutral_face, smile_face: (478, 2) pixel meshes of the
    neutral and the smile photos. The smile's mesh is brought into the neutral photo's frame by a
    similarity on the stable points, then ``warp_face`` moves the neutral mesh onto it.
    Returns (H, W, 3) uint8 BGR.
    """
    m = stable_similarity(smile_face, neutral_face)
    target = transform_points(np.asarray(smile_face, np.float64), m)
    return warp_face(neutral_img, np.asarray(neutral_face, np.float64), target).image
