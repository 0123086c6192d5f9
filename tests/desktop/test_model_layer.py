"""The app's Qt-free model layer: landmark document and drags, mailbox, capabilities, recording."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from PySide6.QtCore import QObject

from engine.errors import ModelError
from engine.face.ibug68 import IBUG68_MIRROR
from engine.io import VideoReader, read_image, read_landmarks_json, sidecar_path
from fes_desktop.capabilities import ModelInfo
from fes_desktop.landmarks import REGIONS, Change, Drag, LandmarkDocument
from fes_desktop.mailbox import Mailbox
from fes_desktop.params import smoothing_params
from fes_desktop.sources import DEFAULT_TARGET, DRIVING_CLIP, LoopingVideoSource
from fes_desktop.workers.recording import FrameRecorder, OutputSpec


@pytest.fixture(scope="module")
def photo_points(engine) -> np.ndarray:
    return engine.detect(read_image(DEFAULT_TARGET)).face.landmarks68


def test_a_drag_moves_one_point_and_reports_a_move(photo_points):
    document = LandmarkDocument()
    changes: list[Change] = []
    document.subscribe(changes.append)
    document.set_base(photo_points)
    drag = Drag(document, 30)
    drag.move_to(*(photo_points[30] + (5, -3)))
    move = drag.finish()
    assert move is not None and move.description == "Move point 30"
    np.testing.assert_allclose(document.points[30], photo_points[30] + (5, -3))
    assert document.moved.tolist() == [30]
    assert changes == [Change.BASE, Change.DRAGGING]
    assert [e.index for e in document.edits()] == [30]


def test_a_region_drag_and_a_mirrored_midline_point(photo_points):
    document = LandmarkDocument()
    document.set_base(photo_points)
    drag = Drag(document, 38, region=True)
    drag.move_to(*(photo_points[38] + (2, 4)))
    assert set(document.moved.tolist()) == set(REGIONS["right eye"])
    document.set_offsets(np.zeros((68, 2)))
    assert IBUG68_MIRROR[8] == 8
    drag = Drag(document, 8, mirror=True)  # the chin tip: a mirrored drag keeps it on the midline
    drag.move_to(*(photo_points[8] + (10, 10)))
    rotation = drag._rotation
    along = rotation @ (document.points[8] - photo_points[8])
    assert abs(along[0]) < 1e-6 and along[1] > 5


def test_an_unmoved_drag_is_no_move_and_reset_is_one(photo_points):
    document = LandmarkDocument()
    document.set_base(photo_points)
    assert Drag(document, 10).finish() is None
    assert document.reset() is None
    Drag(document, 10).move_to(*(photo_points[10] + 3))
    move = document.reset()
    assert move is not None and np.allclose(move.after, 0)
    assert document.nearest(*photo_points[10] + 3, radius=1) == 10


def test_the_mailbox_keeps_the_newest_and_counts_the_rest():
    box: Mailbox[int] = Mailbox()
    assert box.put(1) is False  # empty before: the consumer must be told
    assert box.put(2) is True  # replaced 1
    assert box.take() == 2
    assert box.take() is None
    assert box.replaced == 1


def test_capabilities_of_the_warp_and_an_unknown_model():
    warp = ModelInfo.of("warp")
    assert warp.landmarks and warp.labels and not warp.source_image
    with pytest.raises(ModelError, match="unknown model"):
        ModelInfo.of("no-such-model")


def test_smoothing_strength_maps_to_one_euro():
    assert smoothing_params(0.0) is None
    assert smoothing_params(0.5).min_cutoff == pytest.approx(1.5)
    assert smoothing_params(1.0).min_cutoff < smoothing_params(0.5).min_cutoff


def test_the_looping_clip_keeps_time_increasing():
    with LoopingVideoSource(DRIVING_CLIP, realtime=False) as source:
        frames = [source.read() for _ in range(105)]  # the clip has 100
    times = [f.timestamp_ms for f in frames]
    assert all(b > a for a, b in zip(times, times[1:]))
    assert [f.index for f in frames] == list(range(105))


def test_timed_recording_keeps_the_capture_speed(tmp_path):
    image = read_image(DEFAULT_TARGET)
    spec = OutputSpec(tmp_path / "timed.mp4", "mp4", fps=10.0, long_side=128, sidecar=False)
    recorder = FrameRecorder(spec, (image.shape[1], image.shape[0]))
    for t in (0.0, 50.0, 100.0, 400.0):  # 20 fps, then a 300 ms gap
        recorder.write_timed(image, None, t)
    recorder.close()
    with VideoReader(spec.path) as reader:
        assert reader.size == (128, 128)
        assert sum(1 for _ in reader) == 5  # 0, 100, 200, 300, 400 ms at 10 fps
    assert not sidecar_path(spec.path).exists()


def test_recording_scales_the_landmarks_into_the_sidecar(tmp_path, engine):
    image = read_image(DEFAULT_TARGET)
    face = engine.detect(image).face
    spec = OutputSpec(tmp_path / "frames", "png", fps=5.0, long_side=320)
    recorder = FrameRecorder(spec, (image.shape[1], image.shape[0]))
    recorder.write(image, face.mesh)
    recorder.write(image, None)
    recorder.close()
    assert sorted(p.name for p in spec.path.iterdir()) == ["frame_000000.png", "frame_000001.png", "landmarks.json"]
    track = read_landmarks_json(spec.path / "landmarks.json")
    assert track.image_size == (320, 320)
    assert [f.index for f in track.frames] == [0]
    scale = 320 / max(image.shape[:2])  # the frames' long side, as recorded
    np.testing.assert_allclose(track.frames[0].landmarks, face.landmarks68 * scale, atol=0.01)


def test_void_qt_calls_keep_none_alive():
    """PySide6 6.12.0 dropped a reference to None on every void call, which aborts Python 3.11
    within a minute of live view; the lock pins a release without that bug."""
    probe = QObject()
    before = sys.getrefcount(None)
    for _ in range(10_000):
        probe.setObjectName("x")
    assert sys.getrefcount(None) >= before - 100
