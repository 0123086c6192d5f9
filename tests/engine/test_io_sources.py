"""engine.io.sources: photos, videos and cameras behind one read() -> Frame | None."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.errors import CameraError, InputError
from engine.io.images import read_image
from engine.io.sources import CameraSource, ImageSource, VideoSource, camera_index, open_source
from engine.io.video import open_writer

PHOTO = Path(__file__).resolve().parents[1] / "data" / "cc0" / "lisa_lisa2.jpg"

@pytest.fixture(autouse=True, scope="module")
def require_test_photos() -> None:
    """Missing test data fails every test here; it never skips them."""
    assert PHOTO.exists(), f"test data missing: {PHOTO} (tests/data is part of the repository)"


def test_photo_source_repeats_with_advancing_time() -> None:
    with open_source(PHOTO, image_fps=20.0) as source:
        assert isinstance(source, ImageSource) and not source.is_live
        frames = [source.read() for _ in range(3)]
    expected = read_image(PHOTO)
    assert source.size == (expected.shape[1], expected.shape[0])
    assert [f.index for f in frames] == [0, 1, 2]
    assert [f.timestamp_ms for f in frames] == [0.0, 50.0, 100.0]
    for frame in frames:
        np.testing.assert_array_equal(frame.image, expected)
    frames[0].image[:] = 0
    assert frames[1].image.any()


def test_photo_source_with_a_repeat_count_ends() -> None:
    with ImageSource(PHOTO, repeat=2) as source:
        assert source.frame_count == 2
        assert len(list(source)) == 2
        assert source.read() is None


def test_video_source_reads_to_the_end(tmp_path: Path) -> None:
    photo = cv2.resize(read_image(PHOTO), (96, 128))
    clip = tmp_path / "clip.mp4"
    with open_writer(clip, 25.0, (96, 128)) as writer:
        for shift in range(5):
            writer.write(np.roll(photo, shift * 8, axis=1))
    with open_source(str(clip)) as source:
        assert isinstance(source, VideoSource) and source.fps == 25.0 and source.size == (96, 128)
        assert source.frame_count == 5
        frames = list(source)
        assert source.read() is None and not source.truncated
    assert [f.index for f in frames] == list(range(5))
    assert [f.timestamp_ms for f in frames] == pytest.approx([0, 40, 80, 120, 160])
    assert np.abs(frames[3].image.astype(int) - np.roll(photo, 24, axis=1)).mean() < 4.0


def test_realtime_paces_a_file_source() -> None:
    with ImageSource(PHOTO, fps=50.0, repeat=4, realtime=True) as source:
        start = time.monotonic()
        list(source)
        assert time.monotonic() - start >= 0.055  # frames at 0, 20, 40, 60 ms


def test_camera_specs() -> None:
    assert camera_index(0) == 0 and camera_index("2") == 2 and camera_index(" 1 ") == 1
    assert camera_index("clip.mp4") is None and camera_index(True) is None
    assert camera_index(Path("3")) is None


def test_missing_camera_is_a_camera_error() -> None:
    with pytest.raises(CameraError, match="camera 63 is not available"):
        open_source("63")
    with pytest.raises(CameraError, match="camera 63 is not available"):
        CameraSource(63)


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        open_source(tmp_path / "missing.mp4")
    (tmp_path / "notes.png").write_text("hello")
    with pytest.raises(InputError, match="not a readable image"):
        open_source(tmp_path / "notes.png")
    (tmp_path / "notes.mov").write_text("hello")
    with pytest.raises(InputError, match="not a readable video"):
        open_source(tmp_path / "notes.mov")
