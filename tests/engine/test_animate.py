"""Keyframed expression animation: parsing, the shape model's interpolation, and `fes animate` outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.animate import Keyframe, animate, frame_times, parse_keys, segment
from engine.cli.main import main
from engine.errors import InputError
from engine.geometry.faceframe import FaceFrame
from engine.io import VideoReader, read_image, read_landmarks_json
from tests.conftest import london_photo

PHOTO = london_photo("087")
KEYS = "0:neutral,0.5:happy@1.2,1:surprise@0.8"


def test_keys_parse_with_default_intensity():
    assert parse_keys(" 0:neutral, 1.5:Happy@1.0,3:surprise@0.8 ,4:sad") == [
        Keyframe(0.0, "neutral"), Keyframe(1.5, "happy", 1.0), Keyframe(3.0, "surprise", 0.8), Keyframe(4.0, "sad", 1.0)]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("0:neutral", "at least two keyframes"),
        ("0:neutral,1:grumpy", "unknown expression 'grumpy'"),
        ("0:neutral,1:happy@2", "intensity 2.0 is out of range"),
        ("0:neutral,x:happy", "must be numbers"),
        ("0:neutral,1happy", "expected TIME:LABEL"),
        ("0:neutral,2:happy,1:sad", "times must increase"),
        ("0.5:neutral,2:happy", "first keyframe must be at 0"),
        ("0:neutral,nan:happy", "time must be"),
    ],
)
def test_bad_keys_are_refused_by_name(text, match):
    with pytest.raises(InputError, match=match):
        parse_keys(text)


def test_frame_times_and_segments():
    keys = parse_keys(KEYS)
    times = frame_times(keys, 4.0)
    np.testing.assert_allclose(times, [0, 0.25, 0.5, 0.75, 1.0])
    assert segment(keys, 0.25) == (0, 0.5) and segment(keys, 0.5) == (1, 0.0) and segment(keys, 1.0) == (1, 1.0)
    with pytest.raises(InputError, match="--fps"):
        frame_times(keys, 0.0)


def test_keyframes_hit_the_edit_shapes_and_frames_between_interpolate(engine, tracker):
    photo = read_image(PHOTO)
    keys = parse_keys(KEYS)
    frames = list(animate(engine, photo, keys, fps=4.0))
    assert [f.index for f in frames] == [0, 1, 2, 3, 4] and frames[-1].time == pytest.approx(1.0)
    face = engine.detect(photo).face
    for frame, key in ((frames[0], keys[0]), (frames[2], keys[1]), (frames[4], keys[2])):
        np.testing.assert_allclose(frame.mesh, engine.expression_mesh(face, key.label, key.intensity), atol=1e-3)
    np.testing.assert_allclose(frames[1].mesh, (frames[0].mesh + frames[2].mesh) / 2, atol=1e-3)
    assert frames[2].label == "happy" and frames[4].label == "surprise"
    # The rendered happy key lifts the mouth corners; the surprise key opens the mouth.
    fr = FaceFrame.of(face.landmarks68)
    seen = [fr.to_face(tracker.detect(f.image).face.landmarks68) for f in frames]
    start = fr.to_face(face.landmarks68)
    corners = lambda lm: float(lm[[48, 54], 1].mean())
    opening = lambda lm: float(lm[66, 1] - lm[62, 1])
    assert corners(seen[2]) < corners(start) - 0.03
    assert opening(seen[4]) > opening(start) + 0.05
    assert all(f.image.shape == photo.shape and f.image.dtype == np.uint8 for f in frames)


@pytest.mark.parametrize("suffix", [".mp4", ".gif", "/"])
def test_fes_animate_writes_the_sequence_and_its_landmarks(capsys, tmp_path, suffix):
    out = str(tmp_path / "anim") + suffix
    code = main(["animate", str(PHOTO), "--keys", KEYS, "--fps", "4", "-o", out])
    stdout, err = capsys.readouterr()
    assert code == 0 and out in stdout, err
    target = Path(out.rstrip("/"))
    if suffix == "/":
        pngs = sorted(target.glob("*.png"))
        assert len(pngs) == 5 and read_image(pngs[2]).shape == read_image(PHOTO).shape
        sidecar = next(target.glob("*.json"))
    else:
        with VideoReader(target) as reader:
            assert sum(1 for _ in reader) == 5
        sidecar = Path(f"{target}.landmarks.json")
    track = read_landmarks_json(sidecar)
    assert track.fps == 4.0 and len(track.frames) == 5
    assert track.frames[0].mesh.shape == (478, 2) and track.frames[2].landmarks.shape == (68, 2)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--keys", "0:neutral,1:grumpy"], "unknown expression"),
        (["--keys", KEYS, "--fps", "-2"], "--fps"),
        (["--keys", KEYS, "-o", "/no/such/folder/out.mp4"], "does not exist"),
        (["--keys", KEYS, "-o", "OUT.avi"], "unsupported video format"),
    ],
)
def test_fes_animate_bad_input_is_one_line(capsys, tmp_path, args, match):
    argv = ["animate", str(PHOTO), *args]
    if "-o" not in args:
        argv += ["-o", str(tmp_path / "a.mp4")]
    else:
        argv = [a.replace("OUT", str(tmp_path / "out")) for a in argv]
    code = main(argv)
    _, err = capsys.readouterr()
    assert code == 1 and match in err and len(err.strip().splitlines()) == 1, err
    assert list(tmp_path.iterdir()) == []


def test_fes_animate_refuses_to_replace_its_input_or_an_existing_file(capsys, tmp_path):
    out = tmp_path / "a.gif"
    out.write_bytes(b"keep")
    code = main(["animate", str(PHOTO), "--keys", KEYS, "-o", str(out)])
    _, err = capsys.readouterr()
    assert code == 1 and "--overwrite" in err and out.read_bytes() == b"keep"
