"""The face frame: coordinates normalised by the eyes, so shapes of different photos compare.

Origin at the midpoint of the eye centres, x along the eye axis towards the subject's left eye
(image right), y down, one unit = the inter-ocular distance (IOD).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.face.ibug68 import eye_centres


@dataclass(frozen=True)
class FaceFrame:
    origin: np.ndarray  # (2,) image pixels
    rotation: np.ndarray  # (2, 2): face axes as rows (face = rotation @ (p - origin) / iod)
    iod: float

    @staticmethod
    def of(landmarks68: np.ndarray) -> "FaceFrame":
        right, left = eye_centres(landmarks68)
        axis = left - right
        iod = float(np.linalg.norm(axis))
        c, s = axis / iod
        return FaceFrame(origin=(right + left) / 2, rotation=np.array([[c, s], [-s, c]]), iod=iod)

    def to_face(self, points: np.ndarray) -> np.ndarray:
        """(K, 2) image pixels -> face units."""
        return (np.asarray(points, dtype=np.float64) - self.origin) @ self.rotation.T / self.iod

    def to_image(self, points: np.ndarray) -> np.ndarray:
        """(K, 2) face units -> image pixels."""
        return np.asarray(points, dtype=np.float64) * self.iod @ self.rotation + self.origin

    def vectors_to_image(self, vectors: np.ndarray) -> np.ndarray:
        """(K, 2) displacements in face units -> image pixels (rotation and scale, no origin)."""
        return np.asarray(vectors, dtype=np.float64) * self.iod @ self.rotation
