"""Expression retargeting: a source face's motion relative to its neutral, onto a target's neutral.

Head pose is removed in 3D (similarity on the rigid FaceMesh vertices), the motion is taken in
the source's face frame, scaled and rotated into the target's, weighted by smooth per-region gains,
added to the target's own neutral shape (the individual-specific model of paper 2), with the lips
kept from crossing or collapsing (engine.geometry.lips) and a blink closing the target's lids as
far as the driver's, whatever each one's eye size (engine.geometry.lids).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.face.ibug68 import IBUG_REGIONS, MESH_TO_IBUG68
from engine.geometry.faceframe import FaceFrame
from engine.geometry.lids import transfer_lids
from engine.geometry.lips import clamp_lips
from engine.geometry.pose import align_rigid
from engine.geometry.shape_model import ShapeModel

GAIN_SIGMA = 0.12  # face units: how softly one region's gain blends into the next


@dataclass(frozen=True)
class RegionGains:
    """Multipliers on the transferred motion per region (1 = as the source moves)."""

    brows: float = 1.0
    eyes: float = 1.0
    mouth: float = 1.0
    jaw: float = 1.0

    def per_vertex(self, neutral_face_mesh: np.ndarray) -> np.ndarray:
        """(478,) gains blended smoothly from the iBUG regions (nose: 1)."""
        if self == RegionGains():
            return np.ones(len(neutral_face_mesh))
        region_gain = {"jaw": self.jaw, "brows": self.brows, "nose": 1.0, "eyes": self.eyes, "mouth": self.mouth}
        gains = np.empty(68)
        for region, idx in IBUG_REGIONS.items():
            gains[list(idx)] = region_gain[region]
        centres = np.asarray(neutral_face_mesh)[list(MESH_TO_IBUG68)]
        d2 = ((np.asarray(neutral_face_mesh)[:, None, :] - centres[None]) ** 2).sum(-1)
        w = np.exp(-d2 / (2 * GAIN_SIGMA**2))
        return (w @ gains) / np.maximum(w.sum(1), 1e-9)


def motion_in_face_units(source3d: np.ndarray, source_neutral3d: np.ndarray) -> tuple[np.ndarray, FaceFrame]:
    """(478, 2) displacement of the source from its neutral, head pose removed, in the neutral's face units."""
    aligned = align_rigid(source3d, source_neutral3d)
    frame = FaceFrame.of(np.asarray(source_neutral3d)[list(MESH_TO_IBUG68), :2])
    return frame.to_face(aligned[:, :2]) - frame.to_face(np.asarray(source_neutral3d)[:, :2]), frame


def retarget(
    source3d: np.ndarray,
    source_neutral3d: np.ndarray,
    target_neutral_mesh: np.ndarray,
    gains: RegionGains = RegionGains(),
) -> np.ndarray:
    """Target FaceMesh (478, 2) image pixels showing the source's expression.

    source3d, source_neutral3d: (478, 3) FaceMesh points (x, y pixels, z); target_neutral_mesh:
    (478, 2) pixels of the target photo (taken as the target's neutral).
    """
    motion, source_frame = motion_in_face_units(source3d, source_neutral3d)
    source_neutral = source_frame.to_face(np.asarray(source_neutral3d, dtype=np.float64)[:, :2])
    target = np.asarray(target_neutral_mesh, dtype=np.float64)
    frame = FaceFrame.of(target[list(MESH_TO_IBUG68)])
    neutral_face = frame.to_face(target)
    moved = neutral_face + motion * gains.per_vertex(neutral_face)[:, None]
    moved = transfer_lids(source_neutral, source_neutral + motion, neutral_face, moved, gains.eyes)
    moved = clamp_lips(neutral_face, moved)
    return frame.to_image(moved).astype(np.float32)


def estimate_neutral3d(face3d: np.ndarray, model: ShapeModel) -> np.ndarray:
    """A neutral (478, 3) version of an expressive face: the shape model's neutral estimate in x, y;
    z is kept (only x, y enter the face-frame motion)."""
    face3d = np.asarray(face3d, dtype=np.float64)
    frame = FaceFrame.of(face3d[list(MESH_TO_IBUG68), :2])
    neutral_face = model.estimate_neutral(frame.to_face(face3d[:, :2]))
    # Re-anchor on the rigid vertices so the estimate sits exactly where the observed head is.
    out = face3d.copy()
    out[:, :2] = frame.to_image(neutral_face)
    return align_rigid(out, face3d)
