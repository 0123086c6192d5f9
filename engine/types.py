"""Dataclasses that cross module boundaries.

Coordinates are float32 pixel units of the image they belong to; landmarks are (68, 2) iBUG points
or (478, 2) FaceMesh points. Images are (H, W, 3) uint8 BGR unless a docstring says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Face:
    """One detected face in one image.

    mesh: (478, 2) float32 FaceMesh points in image pixels.
    mesh_z: (478,) float32 relative depth in the same pixel scale as x (MediaPipe convention,
        smaller is closer to the camera).
    landmarks68: (68, 2) float32 iBUG points derived from ``mesh``.
    confidence: 0..1, the face detector / tracker presence score.
    bbox: (x0, y0, x1, y1) float pixel box around the mesh.
    """

    mesh: np.ndarray
    mesh_z: np.ndarray
    landmarks68: np.ndarray
    confidence: float
    bbox: tuple[float, float, float, float]

    @property
    def size(self) -> float:
        """Face size in pixels: the larger side of the bounding box."""
        x0, y0, x1, y1 = self.bbox
        return float(max(x1 - x0, y1 - y0))

    @property
    def mesh3d(self) -> np.ndarray:
        """(478, 3) float32 points: x, y in pixels and z in the same scale."""
        return np.concatenate([self.mesh, self.mesh_z[:, None]], axis=1).astype(np.float32)


@dataclass(frozen=True)
class Detection:
    """All faces found in one image, largest first, with the one chosen for editing."""

    faces: tuple[Face, ...]
    image_size: tuple[int, int]  # (width, height)
    chosen: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def face(self) -> Face:
        return self.faces[self.chosen]


@dataclass(frozen=True)
class Crop:
    """An aligned N x N face crop and the 2x3 similarity that made it.

    image: (N, N, 3) uint8 BGR.
    matrix: 2x3 float64, image pixel -> crop pixel.
    inverse: 2x3 float64, crop pixel -> image pixel.
    """

    image: np.ndarray
    matrix: np.ndarray
    inverse: np.ndarray

    @property
    def size(self) -> int:
        return int(self.image.shape[0])
