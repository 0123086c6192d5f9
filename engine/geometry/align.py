"""Similarity alignment of a face onto the canonical template and the N x N crop.

The canonical template (resources/geometry/template68.json, built by scripts/build_template.py
from the London dev people) lives in unit coordinates: eye centres at y = 0.38, 0.30 apart,
centred on x = 0.5, so the crop holds brows, chin and a little forehead. A crop of size N is the
template scaled by N. Alignment fits a least-squares similarity (Umeyama) on the points that do
not move with expression: eye corners and nose.
"""

from __future__ import annotations

import json
from functools import lru_cache

import cv2
import numpy as np

import resources
from engine.types import Crop

# Eye corners and nose: stable under every expression label.
STABLE68: tuple[int, ...] = (36, 39, 42, 45, 27, 28, 29, 30, 31, 32, 33, 34, 35)


@lru_cache(maxsize=1)
def canonical68() -> np.ndarray:
    """(68, 2) float64 template in unit crop coordinates."""
    data = json.loads((resources.ROOT / "geometry" / "template68.json").read_text())
    return np.asarray(data["points"], dtype=np.float64)


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) mapping src -> dst.

    src, dst: (K, 2). Returns a 2x3 float64 matrix M with dst ~ M @ [x, y, 1].
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rot = u @ sign @ vt
    scale = np.trace(np.diag(sig) @ sign) / (s**2).sum(axis=1).mean()
    m = np.zeros((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - m[:, :2] @ mu_s
    return m


def invert(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a 2x3 affine matrix."""
    return cv2.invertAffineTransform(np.asarray(matrix, dtype=np.float64))


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a 2x3 matrix to (K, 2) points; returns float32 (K, 2)."""
    pts = np.asarray(points, dtype=np.float64)
    m = np.asarray(matrix, dtype=np.float64)
    return (pts @ m[:, :2].T + m[:, 2]).astype(np.float32)


def alignment_matrix(landmarks68: np.ndarray, size: int) -> np.ndarray:
    """2x3 image -> crop similarity that puts the face on the template at crop size ``size``."""
    idx = list(STABLE68)
    return similarity(np.asarray(landmarks68)[idx], canonical68()[idx] * size)


def align_face(image: np.ndarray, landmarks68: np.ndarray, size: int) -> Crop:
    """Aligned (size, size, 3) crop of ``image`` with its matrix and inverse.

    image: (H, W, 3) uint8 BGR; landmarks68: (68, 2) image pixels. Pixels outside the image are
    replicated from its border, so a face near an edge still gives a full crop.
    """
    m = alignment_matrix(landmarks68, size)
    scale = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
    interp = cv2.INTER_AREA if scale < 0.5 else cv2.INTER_LINEAR
    if scale < 0.5:
        # INTER_AREA is ignored by warpAffine: pre-shrink with pyrDown so the crop is not aliased.
        levels = int(np.floor(np.log2(1.0 / scale)))
        small = image
        for _ in range(levels):
            small = cv2.pyrDown(small)
        f = 2.0**levels
        m = m @ np.array([[f, 0, 0], [0, f, 0], [0, 0, 1]], dtype=np.float64)
        image, interp = small, cv2.INTER_LINEAR
    crop = cv2.warpAffine(image, m, (size, size), flags=interp, borderMode=cv2.BORDER_REPLICATE)
    full = alignment_matrix(landmarks68, size)
    return Crop(image=crop, matrix=full, inverse=invert(full))
