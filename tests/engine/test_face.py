"""engine.face: FaceMesh on real photos, the 68-point map, several faces, small faces, tracking."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from engine.errors import FaceTooSmallError, InputError, NoFaceError
from engine.face.ibug68 import IBUG68_MIRROR, MESH_TO_IBUG68, inter_ocular
from engine.face.smoothing import OneEuroParams
from engine.face.tracker import FaceTracker, TrackerOptions
from engine.io import VideoReader, read_image
from resources import SAMPLES
from tests.conftest import DATA, held_out_people, london_photo, pupils


def test_iris_centres_match_hand_annotated_pupils(tracker):
    errors = []
    for person in held_out_people():
        face = tracker.detect(read_image(london_photo(person))).face
        annotated = pupils(person)
        found = face.mesh[[468, 473]]
        errors.append(np.linalg.norm(found - annotated, axis=1).max() / inter_ocular(face.landmarks68))
    assert max(errors) < 0.05, errors
    assert np.mean(errors) < 0.02


def test_ibug_points_sit_in_anatomical_order(tracker):
    lm = tracker.detect(read_image(london_photo("004"))).face.landmarks68
    assert lm.shape == (68, 2) and lm.dtype == np.float32
    brows, eyes, nose_tip, mouth, chin = lm[17:27, 1].mean(), lm[36:48, 1].mean(), lm[30, 1], lm[48:68, 1].mean(), lm[8, 1]
    assert brows < eyes < nose_tip < mouth < chin
    assert lm[36, 0] < lm[39, 0] < lm[42, 0] < lm[45, 0]  # right eye left of left eye in the image
    assert lm[48, 0] < lm[51, 0] < lm[54, 0]
    assert abs(lm[8, 0] - lm[27, 0]) < 0.1 * inter_ocular(lm)  # chin under the nose bridge


def test_mirror_table_is_an_involution_and_map_is_unique():
    mirror = np.array(IBUG68_MIRROR)
    assert sorted(mirror.tolist()) == list(range(68))
    assert (mirror[mirror] == np.arange(68)).all()
    assert len(set(MESH_TO_IBUG68)) == 68


def test_confidence_is_reported_per_face(tracker):
    face = tracker.detect(read_image(london_photo("010"))).face
    assert 0.5 < face.confidence <= 1.0


def _three_faces() -> np.ndarray:
    photos = [read_image(london_photo(p)) for p in ("004", "010", "017")]
    sizes = (512, 300, 220)
    canvas = np.full((512, sum(sizes), 3), 200, np.uint8)
    x = 0
    for photo, size in zip(photos, sizes):
        canvas[:size, x:x + size] = cv2.resize(photo, (size, size), interpolation=cv2.INTER_AREA)
        x += size
    return canvas


def test_three_faces_are_found_largest_first_and_can_be_chosen(tracker):
    image = _three_faces()
    detection = tracker.detect(image)
    assert len(detection.faces) == 3
    sizes = [f.size for f in detection.faces]
    assert sizes == sorted(sizes, reverse=True)
    assert detection.chosen == 0 and detection.face.bbox[0] < 512
    assert any("3 faces" in n and "largest" in n for n in detection.notes)
    second = tracker.detect(image, face_index=1)
    assert 512 <= second.face.bbox[0] < 812
    with pytest.raises(InputError, match="face 5 does not exist"):
        tracker.detect(image, face_index=5)


def test_no_face_raises(tracker):
    sky = np.zeros((400, 600, 3), np.uint8)
    sky[:] = (235, 200, 150)
    with pytest.raises(NoFaceError):
        tracker.detect(sky)


def test_a_tiny_face_is_refused(tracker):
    small = cv2.resize(read_image(DATA / "cc0" / "zoom_60cm.jpg"), None, fx=0.12, fy=0.12, interpolation=cv2.INTER_AREA)
    canvas = np.full((480, 640, 3), 128, np.uint8)
    canvas[100:100 + small.shape[0], 100:100 + small.shape[1]] = small
    try:
        tracker.detect(canvas)
    except FaceTooSmallError as exc:
        assert "px" in str(exc)
    except NoFaceError:
        pass  # too small even to be found: also refused
    else:
        pytest.fail("a face of a few dozen pixels was accepted")


def test_an_8000x6000_photo_gives_the_same_landmarks_scaled(tracker):
    photo = read_image(london_photo("010"))
    big = cv2.resize(photo, (6000, 6000), interpolation=cv2.INTER_CUBIC)
    big = cv2.copyMakeBorder(big, 0, 0, 1000, 1000, cv2.BORDER_REPLICATE)
    assert big.shape[:2] == (6000, 8000)
    small = tracker.detect(photo).face.landmarks68
    large = tracker.detect(big).face.landmarks68
    expected = small * (6000 / 512) + (1000, 0)
    err = np.linalg.norm(large - expected, axis=1).mean() / inter_ocular(expected)
    assert err < 0.03


def _jitter(track: list[np.ndarray]) -> float:
    a = np.array(track)
    return float(np.abs(np.diff(a, n=2, axis=0)).mean())


def test_video_tracking_smooths_and_redetects_after_loss():
    with VideoReader(SAMPLES / "driving.mp4") as reader:
        frames = [(t, f) for _, t, f in reader][:40]
    raw, smooth = [], []
    with FaceTracker.create(TrackerOptions(max_faces=1, smoothing=None)) as a, FaceTracker.create(
        TrackerOptions(max_faces=1, smoothing=OneEuroParams(min_cutoff=1.0, beta=0.0))
    ) as b:
        for t, frame in frames:
            raw.append(a.track(frame, t).landmarks68)
            smooth.append(b.track(frame, t).landmarks68)
        assert _jitter(smooth) < _jitter(raw)
        blank = np.zeros_like(frames[0][1])
        t_end = frames[-1][0]
        assert b.track(blank, t_end + 40) is None
        assert b.track(blank, t_end + 80) is None
        back = b.track(frames[0][1], t_end + 120)
        assert back is not None
        # After a loss the filter restarts: the first face back is the raw detection.
        assert np.abs(back.landmarks68 - raw[0]).mean() < 2.0


def test_smoothing_can_change_while_tracking():
    with VideoReader(SAMPLES / "driving.mp4") as reader:
        frames = [(t, f) for _, t, f in reader][:30]
    with FaceTracker.create(TrackerOptions(max_faces=1, smoothing=None)) as raw, FaceTracker.create(
        TrackerOptions(max_faces=1, smoothing=None)
    ) as changed:
        raw_track, changed_track = [], []
        for i, (t, frame) in enumerate(frames):
            if i == 10:
                changed.set_smoothing(OneEuroParams(min_cutoff=0.3, beta=0.0))
            raw_track.append(raw.track(frame, t).landmarks68)
            changed_track.append(changed.track(frame, t).landmarks68)
        np.testing.assert_allclose(changed_track[:11], raw_track[:11], atol=1e-4)  # unsmoothed until the change
        assert _jitter(changed_track[10:]) < _jitter(raw_track[10:])
