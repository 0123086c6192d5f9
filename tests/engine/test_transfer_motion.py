"""Transfer with region gains up to 200 %: the lips never cross or collapse.

Baseline beaten: the unclamped retarget (neutral + gain x motion) crosses the inner lips when a
mouth-closing motion (a smile played backwards onto an open-mouthed smile) is doubled.
"""

from __future__ import annotations

import numpy as np
import pytest

from engine.face.ibug68 import MESH_TO_IBUG68
from engine.geometry.faceframe import FaceFrame
from engine.geometry.lips import INNER_PAIRS, LOWER_THICKNESS, MIN_THICKNESS, UPPER_THICKNESS
from engine.geometry.retarget import RegionGains, motion_in_face_units, retarget
from engine.io import read_image
from tests.conftest import held_out_people, london_photo


@pytest.fixture(scope="module")
def faces(tracker):
    person = next(p for p in held_out_people() if london_photo(p, "smiling").exists())
    neutral = tracker.detect(read_image(london_photo(person))).face
    smiling = tracker.detect(read_image(london_photo(person, "smiling"))).face
    return neutral, smiling


def lip_state(mesh_px: np.ndarray) -> tuple[float, float, float]:
    """(least inner gap, least upper thickness, least lower thickness) in face units (IOD)."""
    face = FaceFrame.of(mesh_px[list(MESH_TO_IBUG68)]).to_face(mesh_px)
    gap = min(face[low, 1] - face[up, 1] for up, low in INNER_PAIRS)
    upper = min(face[i, 1] - face[o, 1] for i, o in UPPER_THICKNESS)
    lower = min(face[o, 1] - face[i, 1] for i, o in LOWER_THICKNESS)
    return gap, upper, lower


@pytest.mark.parametrize("gain", [1.0, 1.5, 2.0])
def test_doubled_closing_motion_keeps_lips_apart_and_thick(faces, gain):
    neutral, smiling = faces
    # The smile played backwards (smiling -> neutral) onto the smiling face: a closing motion.
    out = retarget(neutral.mesh3d, smiling.mesh3d, smiling.mesh, RegionGains(mouth=gain, jaw=gain))
    gap, upper, lower = lip_state(out)
    _, upper0, lower0 = lip_state(smiling.mesh)
    assert gap >= -1e-3  # 0.1 % IOD: the output's own eye frame differs from the neutral's
    assert upper >= MIN_THICKNESS * upper0 * 0.95 and lower >= MIN_THICKNESS * lower0 * 0.95


def test_unclamped_doubled_closing_motion_would_cross_the_lips(faces):
    neutral, smiling = faces
    motion, _ = motion_in_face_units(neutral.mesh3d, smiling.mesh3d)
    frame = FaceFrame.of(smiling.mesh[list(MESH_TO_IBUG68)])
    naive = smiling.mesh + frame.vectors_to_image(2.0 * motion)
    assert lip_state(naive)[0] < 0, "baseline does not cross: the clamp test would prove nothing"


def test_doubled_smile_still_moves_the_lip_corners(faces):
    neutral, smiling = faces
    once = retarget(smiling.mesh3d, neutral.mesh3d, neutral.mesh)
    twice = retarget(smiling.mesh3d, neutral.mesh3d, neutral.mesh, RegionGains(mouth=2.0))
    corners = [MESH_TO_IBUG68[48], MESH_TO_IBUG68[54]]
    moved1 = np.linalg.norm(once[corners] - neutral.mesh[corners], axis=1).mean()
    moved2 = np.linalg.norm(twice[corners] - neutral.mesh[corners], axis=1).mean()
    assert moved2 > 1.6 * moved1 > 0
    assert lip_state(twice)[0] >= -1e-6
