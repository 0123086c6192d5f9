"""Head follows: the target's head takes the driver's roll, shift and scale (and yaw, pitch).

The driving clips are a real neutral London photo moved by known 2-D similarities (roll, shift,
scale), so the truth of every frame is known; the outputs are measured with MediaPipe again.
A 2-D clip cannot turn the head out of the image plane: yaw and pitch are checked on the mesh
maths (a known 3-D rotation of a real FaceMesh) instead.
"""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest

from engine.api import ReenactConfig, Reenactor
from engine.cli.main import main
from engine.geometry.head_pose import HeadPose, apply_pose, head_motion, iod_of, measure_pose
from engine.geometry.pose import RIGID_MESH
from engine.io import open_writer, read_image
from engine.synthesis.warp import FACE_OVAL, moved_rings, topology
from tests.conftest import london_photo

DRIVER, TARGET = "068", "087"
FRAMES = 30


def eye_roll(mesh: np.ndarray) -> float:
    """Degrees of the line between the outer eye corners (FaceMesh 33 -> 263), atan2(dy, dx)."""
    d = np.asarray(mesh)[263] - np.asarray(mesh)[33]
    return float(np.degrees(np.arctan2(d[1], d[0])))


def rigid_centre(mesh: np.ndarray) -> np.ndarray:
    return np.asarray(mesh, np.float64)[list(RIGID_MESH)].mean(0)


def moved(image: np.ndarray, centre: np.ndarray, roll: float, shift: tuple[float, float], scale: float) -> np.ndarray:
    """``image`` turned by ``roll`` degrees and scaled about ``centre``, then shifted (pixels)."""
    r = np.radians(roll)
    lin = scale * np.array([[np.cos(r), -np.sin(r)], [np.sin(r), np.cos(r)]])
    matrix = np.concatenate([lin, (centre - lin @ centre + shift)[:, None]], axis=1)
    return cv2.warpAffine(image, matrix, (image.shape[1], image.shape[0]), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


@pytest.fixture(scope="module")
def clip(tracker):
    """(frames, truth (FRAMES, 4): roll deg, shift x, y in driver IODs, scale, driver neutral face)."""
    photo = read_image(london_photo(DRIVER))
    face = tracker.detect(photo).face
    centre, iod = rigid_centre(face.mesh), iod_of(face.mesh)
    frames, truth = [], []
    for k in range(FRAMES):
        phase = 2 * np.pi * k / FRAMES
        roll, shift, scale = 12 * np.sin(phase), (25 * np.sin(phase), 25 * np.sin(2 * phase)), 1 + 0.06 * np.sin(3 * phase)
        frames.append(moved(photo, centre, roll, shift, scale))
        truth.append((roll, shift[0] / iod, shift[1] / iod, scale))
    return frames, np.array(truth), face


def drive(clip, follow: bool) -> tuple[np.ndarray, list[np.ndarray]]:
    """(target photo, outputs) of the warp driven by the clip (raw landmarks, neutral = frame 0's photo)."""
    frames, _, neutral = clip
    target = read_image(london_photo(TARGET))
    with Reenactor.create(ReenactConfig(target, model="warp", smoothing=None)) as reenactor:
        reenactor.set_follow_pose(follow)
        reenactor.set_neutral(neutral)
        outputs = [reenactor.render(reenactor.track(frame, 40.0 * k)) for k, frame in enumerate(frames)]
    return target, outputs


def far_from_face(face_mesh: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """(H, W) bool: pixels more than 2.2 face radii (the oval's largest) from the oval's centre."""
    oval = np.asarray(face_mesh, np.float64)[list(FACE_OVAL)]
    centre = oval.mean(0)
    radius = np.linalg.norm(oval - centre, axis=1).max()
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    return np.hypot(xx - centre[0], yy - centre[1]) > 2.2 * radius


def test_the_targets_head_follows_the_drivers_roll_shift_and_scale(clip, tracker):
    _, truth, _ = clip
    target, outputs = drive(clip, follow=True)
    still = tracker.detect(target).face.mesh
    seen = [tracker.detect(out).face.mesh for out in outputs]
    roll = np.array([eye_roll(m) - eye_roll(still) for m in seen])
    shift = np.array([(rigid_centre(m) - rigid_centre(still)) / iod_of(still) for m in seen])
    scale = np.array([iod_of(m) / iod_of(still) for m in seen])
    assert np.abs(roll - truth[:, 0]).mean() < 1.5
    assert np.corrcoef(roll, truth[:, 0])[0, 1] >= 0.95
    assert np.linalg.norm(shift - truth[:, 1:3], axis=1).mean() < 0.06
    assert np.abs(scale - truth[:, 3]).mean() < 0.03
    far = far_from_face(still, target.shape)
    assert far.sum() > 10_000 and all((out[far] == target[far]).all() for out in outputs)


def test_with_head_follows_off_the_targets_head_stays_still(clip, tracker):
    target, outputs = drive(clip, follow=False)
    still = tracker.detect(target).face.mesh
    rolls = [eye_roll(tracker.detect(out).face.mesh) - eye_roll(still) for out in outputs[:: FRAMES // 10]]
    assert max(abs(r) for r in rolls) < 1.0
    far = far_from_face(still, target.shape)
    assert all((out[far] == target[far]).all() for out in outputs)


def test_a_known_3d_turn_of_a_real_face_is_measured_back(tracker):
    face = tracker.detect(read_image(london_photo(TARGET))).face
    neutral = face.mesh3d.astype(np.float64)
    pivot = neutral[list(RIGID_MESH)].mean(0)
    for truth in (HeadPose(roll=8, yaw=15, pitch=-10, scale=1.05, shift=(0.2, -0.1)), HeadPose(yaw=-18, pitch=12, scale=0.95)):
        turned = truth.scale * (neutral - pivot) @ truth.rotation().T + pivot
        turned[:, :2] += np.asarray(truth.shift) * iod_of(neutral)
        got = measure_pose(neutral, turned)
        assert np.allclose([got.roll, got.yaw, got.pitch], [truth.roll, truth.yaw, truth.pitch], atol=1e-6)
        assert got.scale == pytest.approx(truth.scale) and np.allclose(got.shift, truth.shift)


def test_angles_beyond_20_degrees_are_clamped_and_yaw_turns_the_nose(tracker):
    face = tracker.detect(read_image(london_photo(TARGET))).face
    far = apply_pose(face.mesh, face.mesh3d, HeadPose(yaw=35))
    limit = apply_pose(face.mesh, face.mesh3d, HeadPose(yaw=20))
    assert np.allclose(far, limit)
    # Yaw moves the nose tip (in front) sideways against the face's outline (kept in place).
    outline = list(FACE_OVAL)
    nose = (limit[4] - limit[outline].mean(0)) - (face.mesh[4] - face.mesh[outline].mean(0))
    assert abs(nose[0]) > 0.1 * iod_of(face.mesh)


def signed_areas(points: np.ndarray, tris: np.ndarray) -> np.ndarray:
    a, b, c = points[tris[:, 0]], points[tris[:, 1]], points[tris[:, 2]]
    return (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])


def test_the_band_around_a_moving_head_never_folds(tracker):
    image = read_image(london_photo(TARGET))
    assert image.shape[:2] == (512, 512)
    face = tracker.detect(image).face
    tris = topology().triangles
    band = tris[(tris >= 478).any(axis=1)]
    poses = [HeadPose(roll, 0, 0, scale, (dx / iod_of(face.mesh), dy / iod_of(face.mesh)))
             for roll, (dx, dy), scale in itertools.product((-12, 12), ((-25, 0), (25, 0), (0, -25), (0, 25), (18, 18)), (0.94, 1.06))]
    poses += [HeadPose(12, yaw, pitch, 1.06, (0.4, 0.0)) for yaw, pitch in itertools.product((-20, 20), (-20, 20))]
    for pose in poses:
        dst = apply_pose(face.mesh, face.mesh3d, pose)
        src_rings, dst_rings = moved_rings(face.mesh, dst, head_motion(face.mesh, dst))
        before = signed_areas(np.concatenate([face.mesh, src_rings]), band)
        after = signed_areas(np.concatenate([dst, dst_rings]), band)
        assert (after / before > 0).all(), pose


def test_cli_pose_off_keeps_the_head_still_and_on_follows(tmp_path, tracker, capsys):
    photo = read_image(london_photo(DRIVER))
    face = tracker.detect(photo).face
    clip = tmp_path / "roll.mp4"
    with open_writer(clip, 25.0, (photo.shape[1], photo.shape[0])) as writer:
        for k in range(6):
            writer.write(moved(photo, rigid_centre(face.mesh), 0.0 if k == 0 else 10.0, (0.0, 0.0), 1.0))
    target_path = london_photo(TARGET)
    still = eye_roll(tracker.detect(read_image(target_path)).face.mesh)
    rolls = {}
    for pose in ("on", "off"):
        out = tmp_path / pose
        argv = ["reenact", "--driving", clip, "--target", target_path, "-o", f"{out}/", "--max-frames", "4",
                "--neutral-frame", "0", "--model", "warp", "--pose", pose]
        assert main([str(a) for a in argv]) == 0, capsys.readouterr().err
        frames = sorted(out.glob("frame_*.png"))
        assert len(frames) == 4
        rolls[pose] = eye_roll(tracker.detect(read_image(frames[-1])).face.mesh) - still
    assert abs(rolls["off"]) < 1.0
    assert abs(rolls["on"] - 10.0) < 1.5
