"""Landmark drags stay local: every iBUG point dragged 10 % of the IOD in 8 directions on a real
London photo, as taken and edited to Happy 120 % (the desktop drags on top of a label edit)."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from engine.api import Engine, EngineConfig
from engine.face.ibug68 import MESH_TO_IBUG68, mesh_to_ibug68
from engine.geometry.faceframe import FaceFrame
from engine.io.landmarks_json import LandmarkEdit
from engine.synthesis.photo_generators import RenderRequest
from engine.synthesis.warp import INNER_LIP_LOOP, rings, topology
from tests.conftest import london_photo

DIRECTIONS = np.array([(np.cos(a), np.sin(a)) for a in np.arange(8) * np.pi / 4])
SLIVER = 0.015  # IOD: lower triangles (closed inner lips, a lid through an iris point) are slivers


@pytest.fixture(scope="module")
def warp_engine():
    with Engine.create(EngineConfig(model="warp")) as engine:
        yield engine


@pytest.fixture(scope="module")
def photo(warp_engine):
    image = cv2.imread(str(london_photo("001")))
    face = warp_engine.detect(image).face
    happy = warp_engine.expression_mesh(face, "happy", 1.2)
    return image, face, replace(face, mesh=happy, landmarks68=mesh_to_ibug68(happy))


def drag(engine: Engine, anchor, index: int, offset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    target = anchor.landmarks68[index] + offset
    return engine.landmark_mesh(anchor, [LandmarkEdit(index, float(target[0]), float(target[1]))]).astype(np.float64), target


def turned_over(before: np.ndarray, after: np.ndarray, iod: float) -> np.ndarray:
    """Triangles of the warp (rings included) whose orientation sign changes; a sliver upright in
    the triangulation counts once it turns over by more than 0.01 IOD."""
    tris = topology().triangles

    def areas(p):
        a, b, c = p[tris[:, 0]], p[tris[:, 1]], p[tris[:, 2]]
        return (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])

    def longest(p):
        q = p[tris]
        return np.linalg.norm(q - np.roll(q, 1, axis=1), axis=-1).max(axis=1)

    a0, a1 = areas(before), areas(after)
    sliver = np.abs(a0) / longest(before) < SLIVER * iod
    upright = np.sign(a0) == np.sign(np.median(a0))
    return np.where(sliver, upright & (np.sign(np.median(a0)) * a1 / longest(after) < -0.01 * iod), np.sign(a1) != np.sign(a0))


@pytest.mark.parametrize("edited", [False, True], ids=["photo", "happy120"])
def test_every_point_dragged_every_way_folds_nothing_and_moves_nothing_far(warp_engine, photo, edited):
    image, face, happy = photo
    anchor = happy if edited else face
    iod = FaceFrame.of(anchor.landmarks68).iod
    ring = rings(face.mesh)
    before = np.concatenate([anchor.mesh, ring])
    folds, far_motion, misses = [], 0.0, []
    for index in range(68):
        near = np.linalg.norm(anchor.mesh - anchor.landmarks68[index], axis=1) <= 0.5 * iod
        for direction in DIRECTIONS:
            dst, target = drag(warp_engine, anchor, index, 0.1 * iod * direction)
            if turned_over(before, np.concatenate([dst, ring]), iod).any():
                folds.append(index)
            far_motion = max(far_motion, float(np.abs(dst - anchor.mesh)[~near].max()))
            misses.append(float(np.linalg.norm(dst[MESH_TO_IBUG68[index]] - target)))
    misses = np.array(misses)
    assert folds == []
    assert far_motion < 1e-3
    # Short of the target (all within 1 px): the fold guard shortens the drags that squeeze the
    # thin triangles at the jaw and the mouth corners (measured: 96.7 % land, 91.7 % on Happy
    # 120 %); every other drag lands exactly.
    assert np.mean(misses <= 1.0) >= (0.90 if edited else 0.95)
    assert np.median(misses) < 1e-3


def test_the_reported_mouth_corner_drag_on_a_happy_edit_keeps_the_nose_and_lands(warp_engine, photo, tracker):
    """Point 48 ~10 px up and left on Happy 120 % once folded the nose base into a V crease."""
    image, face, happy = photo
    iod = FaceFrame.of(happy.landmarks68).iod
    dst, target = drag(warp_engine, happy, 48, np.array([-7.07, -7.07]))
    assert np.linalg.norm(dst[MESH_TO_IBUG68[48]] - target) < 0.1
    nose_base = [2, 97, 326, 94, 19, 98, 327, 240, 460, 64, 294]
    assert np.abs(dst[nose_base] - happy.mesh[nose_base]).max() < 0.02 * iod
    assert not turned_over(np.concatenate([happy.mesh, rings(face.mesh)]), np.concatenate([dst, rings(face.mesh)]), iod).any()
    base = warp_engine.render(RenderRequest(image, face, happy.mesh.astype(np.float32)), refine=0)
    out = warp_engine.render(RenderRequest(image, face, dst.astype(np.float32)), refine=0)
    seen_base, seen = tracker.detect(base).face.landmarks68, tracker.detect(out).face.landmarks68
    # MediaPipe follows the corner up and left (its face prior takes part of a local drag back).
    moved = seen[48] - seen_base[48]
    assert moved[0] < -2.0 and moved[1] < -2.0


@pytest.mark.parametrize("index", [48, 54, 8, 19, 30, 37, 57, 62])
def test_pixels_beyond_half_an_iod_stay_put_on_a_happy_edit(warp_engine, photo, index):
    image, face, happy = photo
    iod = FaceFrame.of(happy.landmarks68).iod
    base = warp_engine.render(RenderRequest(image, face, happy.mesh.astype(np.float32)), refine=0)
    h, w = image.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    far = np.hypot(xx - happy.landmarks68[index, 0], yy - happy.landmarks68[index, 1]) > 0.5 * iod
    for direction in DIRECTIONS[index % 2 :: 2]:
        dst, _ = drag(warp_engine, happy, index, 0.1 * iod * direction)
        out = warp_engine.render(RenderRequest(image, face, dst.astype(np.float32)), refine=0)
        # The synthesised mouth interior (teeth, cavity) is laid out over the whole opening.
        interior = np.zeros((h, w), np.uint8)
        for mesh in (happy.mesh, dst):
            cv2.fillPoly(interior, [np.round(mesh[list(INNER_LIP_LOOP)]).astype(np.int32)], 1)
        interior = cv2.dilate(interior, np.ones((5, 5), np.uint8)).astype(bool)
        diff = np.abs(out.astype(int) - base.astype(int)).max(axis=2)
        assert diff[far & ~interior].max() <= 1
