"""engine.synthesis: the mesh warp, the mouth interior, the composite."""

from __future__ import annotations

import numpy as np
import pytest

from engine.face.ibug68 import inter_ocular, mesh_to_ibug68
from engine.geometry.align import align_face, transform_points
from engine.geometry.expressions import ExpressionTemplates, expression_target
from engine.io import read_image
from engine.quality import psnr
from engine.synthesis.composite import face_mask, match_colour, paste
from engine.synthesis.warp import rings, topology, warp_face
from tests.conftest import london_photo


@pytest.fixture(scope="module")
def photo(tracker):
    image = read_image(london_photo("068"))
    return image, tracker.detect(image).face


def test_topology_covers_the_face_and_marks_the_mouth_interior():
    topo = topology()
    assert len(topo.triangles) > 900
    assert 5 < topo.mouth.sum() < 40
    assert topo.triangles.max() < 478 + 72


def test_identity_warp_leaves_the_photo_unchanged(photo):
    image, face = photo
    result = warp_face(image, face.mesh, face.mesh)
    diff = np.abs(result.image.astype(int) - image.astype(int))
    assert diff.max() <= 1
    assert result.mouth_fill == 0.0


def test_pixels_outside_the_outer_ring_are_never_touched(photo):
    image, face = photo
    dst = expression_target(face.mesh, "surprise", 1.5, ExpressionTemplates.load())
    result = warp_face(image, face.mesh, dst)
    x0, y0, x1, y1 = result.roi
    outside = np.ones(image.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert (result.image[outside] == image[outside]).all()
    ring = rings(face.mesh)
    assert x0 <= ring[:, 0].min() + 1 and ring[:, 0].max() - 1 <= x1


def test_warped_features_land_where_they_were_asked(photo, tracker):
    image, face = photo
    dst = expression_target(face.mesh, "happy", 1.0, ExpressionTemplates.load())
    out = warp_face(image, face.mesh, dst).image
    seen = tracker.detect(out).face.landmarks68
    asked = mesh_to_ibug68(dst)
    iod = inter_ocular(asked)
    moved = np.linalg.norm(asked[[48, 54]] - face.landmarks68[[48, 54]], axis=1).mean()
    missed = np.linalg.norm(seen[[48, 54]] - asked[[48, 54]], axis=1).mean()
    assert moved > 0.05 * iod
    assert missed < 0.4 * moved


def test_an_opened_mouth_gets_a_synthesised_interior_not_stretched_lips(photo):
    image, face = photo
    dst = expression_target(face.mesh, "surprise", 1.0, ExpressionTemplates.load())
    with_fill = warp_face(image, face.mesh, dst)
    without = warp_face(image, face.mesh, dst, fill_mouth=False)
    assert with_fill.mouth_fill > 0.8
    inner = dst[[13, 14]].mean(axis=0).round().astype(int)
    x, y = inner
    lips = image[int(face.mesh[13, 1]) - 1:int(face.mesh[14, 1]) + 2, x - 3:x + 4].reshape(-1, 3).mean(0)
    inside_fill = with_fill.image[y - 2:y + 3, x - 2:x + 3].reshape(-1, 3).mean(0)
    inside_stretch = without.image[y - 2:y + 3, x - 2:x + 3].reshape(-1, 3).mean(0)
    # Stretched lips keep the lip colour; the synthesised cavity/teeth do not.
    assert np.abs(inside_stretch - lips).mean() < np.abs(inside_fill - lips).mean()


def test_pasting_the_crop_itself_back_reproduces_the_photo(photo):
    image, face = photo
    crop = align_face(image, face.landmarks68, 256)
    lm = transform_points(face.landmarks68, crop.matrix)
    out = paste(image, crop.image, crop, lm)
    x0, y0, x1, y1 = (int(v) for v in face.bbox)
    assert psnr(out[y0:y1, x0:x1], image[y0:y1, x0:x1]) > 35


def test_colour_transfer_matches_the_reference_inside_the_mask(photo):
    image, face = photo
    crop = align_face(image, face.landmarks68, 128)
    mask = face_mask(transform_points(face.landmarks68, crop.matrix), 128)
    tinted = np.clip(crop.image.astype(int) + (40, -20, 10), 0, 255).astype(np.uint8)
    fixed = match_colour(tinted, crop.image, mask)
    inside = mask > 0.5
    before = np.abs(tinted[inside].mean(0) - crop.image[inside].mean(0)).mean()
    after = np.abs(fixed[inside].mean(0) - crop.image[inside].mean(0)).mean()
    assert after < 0.2 * before


def test_face_mask_is_feathered_not_binary(photo):
    image, face = photo
    crop = align_face(image, face.landmarks68, 128)
    mask = face_mask(transform_points(face.landmarks68, crop.matrix), 128)
    assert mask.max() == pytest.approx(1.0, abs=0.01) and mask.min() == 0.0
    assert ((mask > 0.05) & (mask < 0.95)).sum() > 200
