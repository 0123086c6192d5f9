"""engine.geometry: alignment, conditions, expression templates, the shape model, retargeting."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import InputError
from engine.face.ibug68 import inter_ocular, mesh_to_ibug68
from engine.geometry.align import align_face, canonical68, transform_points
from engine.geometry.conditions import heatmap1, heatmaps68, label_maps, landmark_image
from engine.geometry.expressions import ExpressionTemplates, expression_target
from engine.geometry.faceframe import FaceFrame
from engine.geometry.pose import align_rigid
from engine.geometry.labels import EXPRESSIONS, check_intensity, label_index
from engine.geometry.retarget import RegionGains, estimate_neutral3d, retarget
from engine.geometry.shape_model import ShapeModel
from engine.io import read_image
from tests.conftest import DATA, held_out_people, london_photo


@pytest.fixture(scope="module")
def pair(tracker):
    neutral = read_image(london_photo("024"))
    smiling = read_image(london_photo("024", "smiling"))
    return neutral, tracker.detect(neutral).face, smiling, tracker.detect(smiling).face


@pytest.mark.parametrize("size", [128, 256])
def test_alignment_round_trip_is_under_half_a_pixel(tracker, size):
    image = read_image(DATA / "cc0" / "lisa_lisa3.jpg")  # rotated, off-centre face
    face = tracker.detect(image).face
    crop = align_face(image, face.landmarks68, size)
    assert crop.image.shape == (size, size, 3)
    there = transform_points(face.mesh, crop.matrix)
    back = transform_points(there, crop.inverse)
    assert np.abs(back - face.mesh).max() < 0.5
    # The eyes land where the canonical template puts them.
    crop_face = tracker.detect(crop.image).face if size == 256 else None
    if crop_face is not None:
        err = np.abs(crop_face.landmarks68[[36, 45]] - canonical68()[[36, 45]] * size).max()
        assert err < 0.03 * size


def test_heatmaps_peak_on_their_landmarks():
    pts = np.array([[10.3, 20.7], [100.0, 64.0], [64.0, 5.5]], np.float32)
    maps = heatmaps68(pts, 128)
    assert maps.shape == (3, 128, 128) and maps.dtype == np.float32
    for k, (x, y) in enumerate(pts):
        yy, xx = np.unravel_index(maps[k].argmax(), maps[k].shape)
        assert abs(xx - x) <= 0.5 and abs(yy - y) <= 0.5
        assert 0.9 < maps[k].max() <= 1.0
    assert heatmap1(pts, 128).shape == (1, 128, 128)
    np.testing.assert_allclose(heatmap1(pts, 128)[0], maps.max(0))


def test_label_maps_follow_paper_one_figure_four():
    maps = label_maps(label_index("surprise"), len(EXPRESSIONS), 16)
    assert maps.shape == (8, 16, 16)
    assert (maps[3] == 1.0).all() and (np.delete(maps, 3, axis=0) == -1.0).all()
    assert (label_maps(1, 8, 4, intensity=0.5)[1] == 0.0).all()


def test_landmark_image_paints_radius_four_discs_in_the_photo_colours(pair):
    neutral, face, _, _ = pair
    crop = align_face(neutral, face.landmarks68, 128)
    lm = transform_points(face.landmarks68, crop.matrix)
    img = landmark_image(crop.image, lm)
    x, y = np.round(lm[30]).astype(int)
    assert (img[y, x] == crop.image[y, x]).all()
    assert (img[y, x + 4] == crop.image[y, x]).all() or (img[y, x + 4] != 255).any()
    assert (img[0, 0] == 255).all()
    assert (img != 255).any(axis=2).mean() < 0.5


def test_labels_and_intensities_are_checked():
    with pytest.raises(InputError, match="valid: neutral, happy"):
        label_index("smug")
    with pytest.raises(InputError, match="0 to 1.5"):
        check_intensity(1.6)
    assert check_intensity(1.5) == 1.5


def test_happy_lifts_the_mouth_corners_like_a_real_smile(tracker):
    """The action units are at the scale of the London smiles (happy's recipe weighs them 1.8, so
    intensity 1 / 1.8 is the mean London smile); intensity 1 is a posed apex grin, stronger."""
    templates = ExpressionTemplates.load()
    weight = templates.recipes["happy"]["units"]["AU12"]
    lifts_template, lifts_apex, lifts_real = [], [], []
    for person in held_out_people():
        neutral = tracker.detect(read_image(london_photo(person))).face
        smile = tracker.detect(read_image(london_photo(person, "smiling"))).face
        frame = FaceFrame.of(neutral.landmarks68)
        target = frame.to_face(mesh_to_ibug68(expression_target(neutral.mesh, "happy", 1.0 / weight, templates)))
        apex = frame.to_face(mesh_to_ibug68(expression_target(neutral.mesh, "happy", 1.0, templates)))
        real = frame.to_face(mesh_to_ibug68(retarget(smile.mesh3d, neutral.mesh3d, neutral.mesh)))
        start = frame.to_face(neutral.landmarks68)
        lifts_template.append((start[[48, 54], 1] - target[[48, 54], 1]).mean())
        lifts_apex.append((start[[48, 54], 1] - apex[[48, 54], 1]).mean())
        lifts_real.append((start[[48, 54], 1] - real[[48, 54], 1]).mean())
    assert np.mean(lifts_template) == pytest.approx(np.mean(lifts_real), abs=0.02)
    assert min(lifts_template) > 0.02
    assert np.mean(lifts_apex) > 1.5 * np.mean(lifts_real)


def test_templates_scale_with_intensity_and_keep_the_rigid_face_still(pair):
    _, face, _, _ = pair
    templates = ExpressionTemplates.load()
    for label in EXPRESSIONS[1:]:
        half = expression_target(face.mesh, label, 0.5, templates) - face.mesh
        full = expression_target(face.mesh, label, 1.0, templates) - face.mesh
        np.testing.assert_allclose(2 * half, full, atol=1e-3)
        assert np.abs(full[[10, 151, 168, 6, 4]]).max() < 1e-3  # forehead, bridge, tip
        assert np.abs(full).max() > 0.02 * inter_ocular(face.landmarks68)


def test_refit_templates_from_pairs_replaces_the_label(pair, tmp_path):
    _, neutral, _, smile = pair
    fitted, counts = __import__("engine.geometry.expressions", fromlist=["fit_templates"]).fit_templates(
        [(neutral.mesh3d, smile.mesh3d, "happy")] * 3, note="test"
    )
    assert counts == {"happy": 3}
    path = tmp_path / "t.json"
    fitted.save(path)
    again = ExpressionTemplates.load(path)
    target = expression_target(neutral.mesh, "happy", 1.0, again)
    real = retarget(smile.mesh3d, neutral.mesh3d, neutral.mesh)
    assert np.abs(target - real).mean() < 0.5


def test_shape_model_estimates_a_neutral_closer_than_the_smile(tracker):
    model = ShapeModel.load()
    better = 0
    for person in held_out_people():
        neutral = tracker.detect(read_image(london_photo(person))).face
        smile = tracker.detect(read_image(london_photo(person, "smiling"))).face
        estimate = estimate_neutral3d(smile.mesh3d, model)
        truth = align_rigid(neutral.mesh3d, smile.mesh3d)[:, :2]  # the real neutral in the smile's pose
        mouth = list(range(48, 68))
        e_est = np.abs(mesh_to_ibug68(estimate[:, :2])[mouth] - mesh_to_ibug68(truth)[mouth]).mean()
        e_smile = np.abs(smile.landmarks68[mouth] - mesh_to_ibug68(truth)[mouth]).mean()
        better += e_est < e_smile
    assert better >= 12  # of 16 held-out people


def test_shape_model_fits_and_interpolates_expressions(pair):
    _, neutral, _, smile = pair
    model = ShapeModel.load()
    frame = FaceFrame.of(neutral.landmarks68)
    n = frame.to_face(neutral.mesh)
    s = frame.to_face(retarget(smile.mesh3d, neutral.mesh3d, neutral.mesh))
    b = model.fit_expression(n, s)
    fitted = model.express(n, b)
    assert np.abs(fitted - s).mean() < 0.5 * np.abs(s - n).mean()
    zero = np.zeros_like(b)
    np.testing.assert_allclose(model.interpolate(n, zero, b, 0.0), n)
    mid = model.interpolate(n, zero, b, 0.5)
    np.testing.assert_allclose(mid - n, 0.5 * (fitted - n), atol=1e-9)


def test_retargeting_a_face_onto_itself_changes_nothing(pair):
    _, neutral, _, _ = pair
    out = retarget(neutral.mesh3d, neutral.mesh3d, neutral.mesh)
    assert np.abs(out - neutral.mesh).max() < 1e-3


def test_region_gains_switch_regions_off(pair):
    _, neutral, _, smile = pair
    full = retarget(smile.mesh3d, neutral.mesh3d, neutral.mesh)
    no_mouth = retarget(smile.mesh3d, neutral.mesh3d, neutral.mesh, RegionGains(mouth=0.0))
    mouth = list(range(48, 68))
    moved_full = np.abs(mesh_to_ibug68(full)[mouth] - neutral.landmarks68[mouth]).mean()
    moved_off = np.abs(mesh_to_ibug68(no_mouth)[mouth] - neutral.landmarks68[mouth]).mean()
    assert moved_off < 0.25 * moved_full


def test_real_smiles_are_recognised_as_happy_and_stillness_as_neutral(tracker):
    from engine.geometry.expressions import label_fields, nearest_label
    from engine.geometry.retarget import motion_in_face_units

    templates = ExpressionTemplates.load()
    labels = []
    for person in held_out_people():
        neutral = tracker.detect(read_image(london_photo(person))).face
        smile = tracker.detect(read_image(london_photo(person, "smiling"))).face
        motion, frame = motion_in_face_units(smile.mesh3d, neutral.mesh3d)
        fields = label_fields(templates, frame.to_face(neutral.mesh))
        labels.append(nearest_label(motion, fields)[0])
        assert nearest_label(0 * motion, fields) == ("neutral", 0.0)
    assert labels.count("happy") >= 14, labels
