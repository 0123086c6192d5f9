"""engine.io.landmarks_json: the sidecar round trip and precise errors for hand-written edits."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine.errors import InputError
from engine.io.landmarks_json import (
    FrameLandmarks,
    LandmarkEdit,
    LandmarkTrack,
    read_landmark_edits,
    read_landmarks_json,
    sidecar_path,
    write_landmark_edits,
    write_landmarks_json,
)

TEMPLATE = Path(__file__).resolve().parents[1] / "data" / "london" / "neutral" / "001.tem"


def real_points() -> np.ndarray:
    """68 real face points: the first 68 of a London-set WebMorph template (512 px photo)."""
    if not TEMPLATE.exists():
        return np.random.default_rng(1).uniform(0, 512, (68, 2)).astype(np.float32)
    lines = TEMPLATE.read_text().splitlines()
    return np.array([[float(v) for v in line.split()] for line in lines[1:69]], np.float32)


def make_track(with_mesh: bool = True) -> LandmarkTrack:
    points = real_points()
    mesh = np.random.default_rng(2).uniform(0, 512, (478, 2)) if with_mesh else None
    frames = (
        FrameLandmarks(index=0, timestamp_ms=0.0, landmarks=points, mesh=mesh),
        FrameLandmarks(index=3, timestamp_ms=100.0, landmarks=points + 1.25),
    )
    return LandmarkTrack(image_size=(512, 512), fps=30.0, frames=frames)


def test_sidecar_round_trip(tmp_path: Path) -> None:
    track = make_track()
    path = tmp_path / "clip.mp4.landmarks.json"
    write_landmarks_json(path, track)
    back = read_landmarks_json(path)
    assert back.image_size == (512, 512) and back.fps == 30.0
    assert [f.index for f in back.frames] == [0, 3]
    assert [f.timestamp_ms for f in back.frames] == [0.0, 100.0]
    for original, restored in zip(track.frames, back.frames):
        assert restored.landmarks.dtype == np.float32 and restored.landmarks.shape == (68, 2)
        np.testing.assert_allclose(restored.landmarks, original.landmarks, atol=5e-4)
    np.testing.assert_allclose(back.frames[0].mesh, track.frames[0].mesh, atol=5e-4)
    assert back.frames[1].mesh is None
    assert os.listdir(tmp_path) == [path.name]


def test_sidecar_layout_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "photo.png.landmarks.json"
    write_landmarks_json(path, LandmarkTrack(image_size=(640, 480), fps=None, frames=make_track(False).frames))
    data = json.loads(path.read_text())
    assert {k: data[k] for k in ("format", "version", "layout", "image_size", "fps")} == {
        "format": "fes-landmarks",
        "version": 1,
        "layout": "ibug68",
        "image_size": [640, 480],
        "fps": None,
    }
    assert set(data["frames"][0]) == {"index", "timestamp_ms", "landmarks"}
    assert len(data["frames"][0]["landmarks"]) == 68
    assert len(path.read_text().splitlines()) == len(data["frames"]) + 2  # header, one line per frame, close


def test_empty_track_round_trip(tmp_path: Path) -> None:
    write_landmarks_json(tmp_path / "a.json", LandmarkTrack(image_size=(10, 20), fps=25.0))
    assert read_landmarks_json(tmp_path / "a.json").frames == ()


def test_sidecar_path() -> None:
    assert sidecar_path(Path("out/clip.mp4")) == Path("out/clip.mp4.landmarks.json")
    assert sidecar_path(Path("out/frames"), is_folder=True) == Path("out/frames/landmarks.json")


def test_frame_landmarks_validates_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(68, 2\)"):
        FrameLandmarks(index=0, timestamp_ms=0.0, landmarks=np.zeros((67, 2)))
    with pytest.raises(ValueError, match="non-finite"):
        FrameLandmarks(index=0, timestamp_ms=0.0, landmarks=np.full((68, 2), np.nan))
    with pytest.raises(ValueError, match="increasing"):
        LandmarkTrack(image_size=(1, 1), fps=1.0, frames=(make_track().frames[1], make_track().frames[0]))


def sidecar_dict() -> dict[str, Any]:
    return json.loads(
        json.dumps(
            {
                "format": "fes-landmarks",
                "version": 1,
                "layout": "ibug68",
                "image_size": [512, 512],
                "fps": 30,
                "frames": [
                    {"index": 0, "timestamp_ms": 0, "landmarks": real_points().tolist()},
                    {"index": 1, "timestamp_ms": 33.3, "landmarks": real_points().tolist()},
                ],
            }
        )
    )


def _set(data: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("format",), "other", "not an FES landmarks file"),
        (("version",), 2, "version 2 is not supported"),
        (("layout",), "mesh478", "layout 'mesh478' is not supported"),
        (("image_size",), [512], "image_size must be"),
        (("image_size",), [512, 0], "image_size must be"),
        (("fps",), -1, "fps must be a positive number"),
        (("frames",), {}, "frames must be a list"),
        (("frames", 1, "index"), 0, r"frames\[1\]\.index 0 does not follow 0"),
        (("frames", 0, "index"), 1.5, r"frames\[0\]\.index must be a whole number"),
        (("frames", 0, "timestamp_ms"), "0", r"frames\[0\]\.timestamp_ms must be a finite number"),
        (("frames", 0, "landmarks"), [[0, 0]] * 67, r"frames\[0\]\.landmarks must be a list of 68 .* got 67 items"),
        (("frames", 1, "landmarks", 12), [1, "2"], r"frames\[1\]\.landmarks\[12\] must be \[x, y\]"),
        (("frames", 1, "landmarks", 12), [1, float("nan")], r"frames\[1\]\.landmarks\[12\] must be \[x, y\]"),
        (("frames", 0, "mesh"), [[0, 0]] * 68, r"frames\[0\]\.mesh must be a list of 478"),
    ],
)
def test_sidecar_validation(tmp_path: Path, path: tuple[Any, ...], value: Any, message: str) -> None:
    file = tmp_path / "bad.landmarks.json"
    file.write_text(json.dumps(_set(sidecar_dict(), path, value)))
    with pytest.raises(InputError, match=message) as caught:
        read_landmarks_json(file)
    assert str(caught.value).startswith(str(file))


def test_sidecar_missing_key_in_frame(tmp_path: Path) -> None:
    data = sidecar_dict()
    del data["frames"][1]["landmarks"]
    (tmp_path / "a.json").write_text(json.dumps(data))
    with pytest.raises(InputError, match=r"frames\[1\] has no 'landmarks'"):
        read_landmarks_json(tmp_path / "a.json")


def write_edits(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "edits.json"
    path.write_text(text)
    return path


def test_edits_are_read(tmp_path: Path) -> None:
    path = write_edits(tmp_path, '[{"index": 48, "x": 210.5, "y": 330}, {"index": 54, "x": 300, "y": 329.25}]')
    assert read_landmark_edits(path) == [LandmarkEdit(48, 210.5, 330.0), LandmarkEdit(54, 300.0, 329.25)]
    assert isinstance(read_landmark_edits(path)[0].y, float)


def test_edits_round_trip(tmp_path: Path) -> None:
    edits = [LandmarkEdit(0, 1.5, 2.25), LandmarkEdit(67, 511.0, 0.0)]
    write_landmark_edits(tmp_path / "out.json", edits)
    assert read_landmark_edits(tmp_path / "out.json") == edits


def test_empty_edit_list_is_allowed(tmp_path: Path) -> None:
    assert read_landmark_edits(write_edits(tmp_path, "[]")) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[{"index": 1, "x": 2, "y": 3}', r"not valid JSON \(.* at line 1, column 30\)"),
        ('{"index": 1, "x": 2, "y": 3}', "expected a list of edits"),
        ("[[1, 2, 3]]", "edit 0 must be an object"),
        ('[{"index": 1, "x": 2}]', "edit 0 has no 'y'"),
        ('[{"index": 1, "x": 2, "y": 3, "z": 4}]', "edit 0 has unknown key 'z'"),
        ('[{"index": "5", "x": 2, "y": 3}]', "edit 0: index must be a whole number, got '5'"),
        ('[{"index": 5.0, "x": 2, "y": 3}]', "edit 0: index must be a whole number, got 5.0"),
        ('[{"index": true, "x": 2, "y": 3}]', "edit 0: index must be a whole number, got True"),
        ('[{"index": 68, "x": 2, "y": 3}]', r"edit 0: index 68 is out of range 0\.\.67"),
        ('[{"index": -1, "x": 2, "y": 3}]', r"edit 0: index -1 is out of range 0\.\.67"),
        ('[{"index": 3, "x": 2, "y": 3}, {"index": 3, "x": 4, "y": 5}]', "edit 1: index 3 already moved by edit 0"),
        ('[{"index": 3, "x": "2", "y": 3}]', "edit 0: x must be a number, got '2'"),
        ('[{"index": 3, "x": null, "y": 3}]', "edit 0: x must be a number, got None"),
        ('[{"index": 3, "x": 2, "y": NaN}]', r"edit 0: y is not a finite number \(nan\)"),
        ('[{"index": 3, "x": Infinity, "y": 1}]', r"edit 0: x is not a finite number \(inf\)"),
        ('[{"index": 3, "x": 1e999, "y": 1}]', r"edit 0: x is not a finite number \(inf\)"),
    ],
)
def test_malformed_edits(tmp_path: Path, text: str, message: str) -> None:
    path = write_edits(tmp_path, text)
    with pytest.raises(InputError, match=message) as caught:
        read_landmark_edits(path)
    assert str(caught.value).startswith(f"{path}: ")


def test_edits_file_missing_or_binary(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        read_landmark_edits(tmp_path / "missing.json")
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00garbage\x80")
    with pytest.raises(InputError, match="not valid JSON"):
        read_landmark_edits(tmp_path / "binary.json")
