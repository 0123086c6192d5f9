"""engine.io.video: MP4 / GIF / PNG-sequence writers read back, and readers survive bad files."""

from __future__ import annotations

import errno
import json
import os
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.errors import InputError, OutputError
from engine.io.images import read_image
from engine.io.landmarks_json import read_landmarks_json
from engine.io.video import GifWriter, Mp4Writer, PngSequenceWriter, VideoReader, open_writer

NEUTRAL = Path(__file__).resolve().parents[1] / "data" / "london" / "neutral"
WIDTH, HEIGHT = 160, 120
FPS = 25.0

@pytest.fixture(autouse=True, scope="module")
def require_test_photos() -> None:
    """Missing test data fails every test here; it never skips them."""
    assert NEUTRAL.exists(), f"test data missing: {NEUTRAL} (tests/data is part of the repository)"


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    """Twelve real, different face photos as (120, 160, 3) uint8 BGR frames."""
    photos = sorted(NEUTRAL.glob("*.jpg"))[:12]
    return [cv2.resize(read_image(p)[64:448], (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA) for p in photos]


def write_clip(path: Path | str, frames: list[np.ndarray], fps: float = FPS) -> None:
    height, width = frames[0].shape[:2]
    with open_writer(path, fps, (width, height)) as writer:
        for frame in frames:
            writer.write(frame)


def read_all(path: Path) -> tuple[VideoReader, list[tuple[int, float, np.ndarray]]]:
    with VideoReader(path) as reader:
        return reader, list(reader)


def test_mp4_round_trip(tmp_path: Path, frames: list[np.ndarray]) -> None:
    path = tmp_path / "clip.mp4"
    write_clip(path, frames)
    reader, decoded = read_all(path)
    assert reader.fps == pytest.approx(FPS)
    assert reader.frame_count == len(frames) == len(decoded)
    assert reader.size == (WIDTH, HEIGHT) and not reader.truncated
    assert [index for index, _, _ in decoded] == list(range(len(frames)))
    assert [t for _, t, _ in decoded] == pytest.approx([i * 1000 / FPS for i in range(len(frames))])
    for (_, _, image), original in zip(decoded, frames):
        assert image.shape == original.shape and image.dtype == np.uint8
        assert np.abs(image.astype(int) - original).mean() < 4.0
    assert os.listdir(tmp_path) == ["clip.mp4"]


def test_mp4_keeps_colours(tmp_path: Path) -> None:
    """Saturated red and blue stay red and blue (BT.709 matrix written and read back)."""
    frame = np.zeros((64, 64, 3), np.uint8)
    frame[:, :32] = (0, 0, 255)
    frame[:, 32:] = (255, 0, 0)
    write_clip(tmp_path / "colours.mp4", [frame] * 3)
    _, decoded = read_all(tmp_path / "colours.mp4")
    image = decoded[1][2]
    assert np.abs(image[8:56, 4:24].astype(int) - (0, 0, 255)).max() <= 8
    assert np.abs(image[8:56, 40:60].astype(int) - (255, 0, 0)).max() <= 8


def test_mp4_odd_size_is_padded_by_one_pixel(tmp_path: Path, frames: list[np.ndarray]) -> None:
    odd = [frame[:119, :159] for frame in frames[:4]]
    write_clip(tmp_path / "odd.mp4", odd)
    reader, decoded = read_all(tmp_path / "odd.mp4")
    assert reader.size == (160, 120) and len(decoded) == 4
    image = decoded[2][2]
    assert np.abs(image[:119, :159].astype(int) - odd[2]).mean() < 4.0
    assert np.abs(image[119, :159].astype(int) - odd[2][118]).mean() < 12.0


def test_gif_round_trip_colours_and_timing(tmp_path: Path, frames: list[np.ndarray]) -> None:
    path = tmp_path / "clip.gif"
    write_clip(path, frames, fps=30.0)
    reader, decoded = read_all(path)
    assert len(decoded) == reader.frame_count == len(frames)
    assert reader.size == (WIDTH, HEIGHT)
    # Frame i starts at round(i * 100 / 30) centiseconds.
    assert [t for _, t, _ in decoded] == pytest.approx([round(i * 100 / 30) * 10 for i in range(len(frames))])
    for (_, _, image), original in zip(decoded, frames):
        assert np.abs(image.astype(int) - original).mean() < 5.0
        assert np.abs(cv2.blur(image, (5, 5)).astype(int) - cv2.blur(original, (5, 5))).mean() < 2.0


def test_png_sequence_is_lossless(tmp_path: Path, frames: list[np.ndarray]) -> None:
    folder = tmp_path / "frames"
    write_clip(f"{folder}/", frames[:5])
    assert sorted(os.listdir(folder)) == [f"frame_{i:06d}.png" for i in range(5)]
    for i, original in enumerate(frames[:5]):
        np.testing.assert_array_equal(read_image(folder / f"frame_{i:06d}.png"), original)
    assert os.listdir(tmp_path) == ["frames"]


def test_open_writer_picks_by_suffix_and_folder(tmp_path: Path) -> None:
    (tmp_path / "existing").mkdir()
    cases = {"a.mp4": Mp4Writer, "b.GIF": GifWriter, f"{tmp_path}/new/": PngSequenceWriter}
    for name, kind in cases.items():
        writer = open_writer(tmp_path / name if not name.endswith("/") else name, FPS, (WIDTH, HEIGHT))
        assert isinstance(writer, kind)
        writer.abort()
    writer = open_writer(tmp_path / "existing", FPS, (WIDTH, HEIGHT))
    assert isinstance(writer, PngSequenceWriter)
    writer.abort()
    assert sorted(os.listdir(tmp_path)) == ["existing"]


def test_unsupported_suffix_and_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match=r"unsupported video format '\.avi'"):
        open_writer(tmp_path / "clip.avi", FPS, (WIDTH, HEIGHT))
    with pytest.raises(OutputError, match="does not exist"):
        open_writer(tmp_path / "missing" / "clip.mp4", FPS, (WIDTH, HEIGHT))


@pytest.mark.parametrize("name", ["clip.mp4", "clip.gif", "frames/"])
def test_exception_inside_with_leaves_previous_output(tmp_path: Path, frames: list[np.ndarray], name: str) -> None:
    target = tmp_path / name
    if name.endswith("/"):
        target.mkdir()
        (target / "frame_000000.png").write_bytes(b"previous")
    else:
        target.write_bytes(b"previous")
    with pytest.raises(RuntimeError, match="face tracker failed"):
        with open_writer(f"{tmp_path}/{name}", FPS, (WIDTH, HEIGHT), overwrite=True) as writer:
            for frame in frames[:3]:
                writer.write(frame, landmarks=np.zeros((68, 2)))
            raise RuntimeError("face tracker failed")
    assert sorted(os.listdir(tmp_path)) == [name.rstrip("/")]
    if name.endswith("/"):
        assert os.listdir(target) == ["frame_000000.png"]
    else:
        assert target.read_bytes() == b"previous"


def test_png_sequence_refuses_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "frames").mkdir()
    (tmp_path / "frames" / "keep.txt").write_text("mine")
    with pytest.raises(OutputError, match="not empty"):
        open_writer(f"{tmp_path}/frames/", FPS, (WIDTH, HEIGHT))
    assert os.listdir(tmp_path / "frames") == ["keep.txt"]


def test_full_disk_while_writing_png_sequence(
    tmp_path: Path, frames: list[np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = os.write

    def write(fd: int, data: bytes) -> int:
        if "frame_000002" in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)
    with pytest.raises(OutputError, match="the disk is full"):
        write_clip(f"{tmp_path}/frames/", frames[:4])
    assert os.listdir(tmp_path) == []


def test_wrong_frame_is_a_value_error(tmp_path: Path, frames: list[np.ndarray]) -> None:
    with pytest.raises(ValueError, match=r"expected a \(120, 160, 3\) uint8"):
        with open_writer(tmp_path / "clip.mp4", FPS, (WIDTH, HEIGHT)) as writer:
            writer.write(cv2.resize(frames[0], (80, 60)))
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("name", ["clip.mp4", "clip.gif", "frames/"])
def test_landmarks_sidecar(tmp_path: Path, frames: list[np.ndarray], name: str) -> None:
    rng = np.random.default_rng(0)
    points = [rng.uniform(0, WIDTH, (68, 2)) for _ in range(4)]
    mesh = rng.uniform(0, WIDTH, (478, 2))
    with open_writer(f"{tmp_path}/{name}", FPS, (WIDTH, HEIGHT)) as writer:
        writer.write(frames[0], landmarks=points[0], mesh=mesh)
        writer.write(frames[1])
        writer.write(frames[2], landmarks=points[2])
    sidecar = tmp_path / "frames" / "landmarks.json" if name.endswith("/") else tmp_path / f"{name}.landmarks.json"
    track = read_landmarks_json(sidecar)
    assert track.image_size == (WIDTH, HEIGHT) and track.fps == FPS
    assert [f.index for f in track.frames] == [0, 2]
    assert [f.timestamp_ms for f in track.frames] == [0.0, 80.0]
    np.testing.assert_allclose(track.frames[0].landmarks, points[0], atol=1e-3)
    np.testing.assert_allclose(track.frames[0].mesh, mesh, atol=1e-3)
    np.testing.assert_allclose(track.frames[1].landmarks, points[2], atol=1e-3)
    assert track.frames[1].mesh is None
    assert json.loads(sidecar.read_text())["format"] == "fes-landmarks"


def test_no_sidecar_without_landmarks(tmp_path: Path, frames: list[np.ndarray]) -> None:
    write_clip(tmp_path / "clip.gif", frames[:2])
    assert os.listdir(tmp_path) == ["clip.gif"]


@pytest.fixture(scope="module")
def mp4_bytes(tmp_path_factory: pytest.TempPathFactory, frames: list[np.ndarray]) -> bytes:
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    write_clip(path, frames * 2)
    return path.read_bytes()


def test_truncated_mp4_yields_what_it_can(tmp_path: Path, mp4_bytes: bytes, frames: list[np.ndarray]) -> None:
    path = tmp_path / "cut.mp4"
    path.write_bytes(mp4_bytes[: int(len(mp4_bytes) * 0.6)])
    with VideoReader(path) as reader:
        assert reader.frame_count == 2 * len(frames)
        decoded = list(reader)
    assert 0 < len(decoded) < 2 * len(frames)
    assert reader.truncated and reader.truncation_message
    for index, _, image in decoded:
        assert np.abs(image.astype(int) - frames[index % len(frames)]).mean() < 4.0


def test_mp4_cut_before_any_frame_is_an_input_error(tmp_path: Path, mp4_bytes: bytes) -> None:
    path = tmp_path / "stub.mp4"
    path.write_bytes(mp4_bytes[:1500])
    with pytest.raises(InputError, match=r"stub\.mp4: not a readable video"):
        VideoReader(path)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("notes.mp4", b"not a video at all\n", "not a readable video"),
        ("empty.mp4", b"", "not a readable video"),
    ],
)
def test_non_video_files_are_input_errors(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    (tmp_path / name).write_bytes(content)
    with pytest.raises(InputError, match=message):
        VideoReader(tmp_path / name)


def test_still_image_and_missing_file_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a still image, not a video"):
        VideoReader(NEUTRAL / "001.jpg")
    with pytest.raises(InputError, match="file not found"):
        VideoReader(tmp_path / "missing.mp4")


def test_rotated_phone_video_is_turned_upright(tmp_path: Path, frames: list[np.ndarray]) -> None:
    """A portrait phone clip stores landscape pixels plus a -90 degree display matrix."""
    write_clip(tmp_path / "plain.mp4", frames[:3])
    data = (tmp_path / "plain.mp4").read_bytes()
    identity = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    rotate = struct.pack(">9I", 0, 0x10000, 0, 0xFFFF0000, 0, 0, 0, 0, 0x40000000)
    at = data.rfind(identity)  # the track header's matrix (the movie header's comes first)
    (tmp_path / "portrait.mp4").write_bytes(data[:at] + rotate + data[at + len(identity) :])
    reader, decoded = read_all(tmp_path / "portrait.mp4")
    assert reader.size == (HEIGHT, WIDTH)
    upright = cv2.rotate(frames[1], cv2.ROTATE_90_CLOCKWISE)
    assert np.abs(decoded[1][2].astype(int) - upright).mean() < 4.0


def test_reader_iterates_once(tmp_path: Path, frames: list[np.ndarray]) -> None:
    write_clip(tmp_path / "clip.mp4", frames[:2])
    with VideoReader(tmp_path / "clip.mp4") as reader:
        assert len(list(reader)) == 2
        with pytest.raises(RuntimeError, match="only once"):
            list(reader)
