"""Map from MediaPipe FaceMesh's 478 points to the 68-point iBUG-300W layout the papers use.

Each iBUG point takes the FaceMesh vertex that sits at the same anatomical place (canonical face
model, mediapipe/modules/face_geometry/data/canonical_face_model_uv_visualization.png):

    0-16   jaw, from the subject's right ear (image left) over the chin (8) to the left ear
    17-21  right brow, outer to inner      22-26 left brow, inner to outer
    27-30  nose bridge, top to tip         31-35 nostrils, right to left
    36-41  right eye, outer corner clockwise   42-47 left eye, inner corner clockwise
    48-59  outer lip, right corner clockwise    60-67 inner lip, right corner clockwise

The FaceMesh contour is denser than iBUG's; brows use the upper brow line, lips the mucosa edge.
"""

from __future__ import annotations

import numpy as np

MESH_TO_IBUG68: tuple[int, ...] = (
    127, 234, 93, 132, 58, 172, 136, 150, 152, 379, 365, 397, 288, 361, 323, 454, 356,
    70, 63, 105, 66, 107,
    336, 296, 334, 293, 300,
    168, 197, 5, 4,
    75, 97, 2, 326, 305,
    33, 160, 158, 133, 153, 144,
    362, 385, 387, 263, 373, 380,
    61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,
    78, 82, 13, 312, 308, 317, 14, 87,
)

IBUG_REGIONS: dict[str, tuple[int, ...]] = {
    "jaw": tuple(range(0, 17)),
    "brows": tuple(range(17, 27)),
    "nose": tuple(range(27, 36)),
    "eyes": tuple(range(36, 48)),
    "mouth": tuple(range(48, 68)),
}

RIGHT_EYE = tuple(range(36, 42))
LEFT_EYE = tuple(range(42, 48))

# Left/right mirror of the iBUG layout, used for symmetric landmark dragging and flips.
IBUG68_MIRROR: tuple[int, ...] = (
    tuple(range(16, -1, -1))
    + tuple(range(26, 16, -1))
    + (27, 28, 29, 30)
    + (35, 34, 33, 32, 31)
    + (45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40)
    + (54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55)
    + (64, 63, 62, 61, 60, 67, 66, 65)
)


def mesh_to_ibug68(mesh: np.ndarray) -> np.ndarray:
    """(478, D) FaceMesh points -> (68, D) iBUG points (a copy, float32)."""
    return np.asarray(mesh, dtype=np.float32)[list(MESH_TO_IBUG68)].copy()


def eye_centres(landmarks68: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(right eye centre, left eye centre) in the landmarks' units: the means of the eye contours."""
    pts = np.asarray(landmarks68, dtype=np.float64)
    return pts[list(RIGHT_EYE)].mean(axis=0), pts[list(LEFT_EYE)].mean(axis=0)


def inter_ocular(landmarks68: np.ndarray) -> float:
    """Distance between the eye centres; the papers' normaliser for landmark error."""
    right, left = eye_centres(landmarks68)
    return float(np.linalg.norm(left - right))
