"""The `fes` command line on real photos and the bundled clip, including every bad-input case."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.cli.main import main
from engine.face.ibug68 import inter_ocular
from engine.io import VideoReader, read_image, read_landmarks_json, write_image
from resources import SAMPLES
from tests.conftest import DATA, london_photo

NEUTRAL = london_photo("087")
SMILE = london_photo("087", "smiling")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if p.name.startswith(".")]


def test_edit_by_label_writes_a_photo_with_the_mouth_changed(capsys, tmp_path, tracker):
    out = tmp_path / "happy.png"
    code, stdout, _ = run(capsys, "edit", NEUTRAL, "--expression", "happy", "--intensity", "1.2", "-o", out)
    assert code == 0 and str(out) in stdout
    before, after = read_image(NEUTRAL), read_image(out)
    assert after.shape == before.shape
    face = tracker.detect(before).face
    x0, y0 = face.landmarks68[48:68].min(0).astype(int) - 5
    x1, y1 = face.landmarks68[48:68].max(0).astype(int) + 5
    assert np.abs(after[y0:y1, x0:x1].astype(int) - before[y0:y1, x0:x1]).mean() > 8
    assert np.abs(after[:40].astype(int) - before[:40]).max() == 0  # the top of the photo is untouched
    assert no_temp_files(tmp_path)


def test_edit_by_dragged_landmarks_moves_those_points(capsys, tmp_path, tracker):
    face = tracker.detect(read_image(NEUTRAL)).face
    lm = face.landmarks68
    iod = inter_ocular(lm)
    edits = [{"index": 48, "x": float(lm[48, 0] - 0.05 * iod), "y": float(lm[48, 1] - 0.1 * iod)},
             {"index": 54, "x": float(lm[54, 0] + 0.05 * iod), "y": float(lm[54, 1] - 0.1 * iod)}]
    path = tmp_path / "edits.json"
    path.write_text(json.dumps(edits))
    out = tmp_path / "dragged.jpg"
    code, _, _ = run(capsys, "edit", NEUTRAL, "--landmarks", path, "-o", out)
    assert code == 0
    seen = tracker.detect(read_image(out)).face.landmarks68
    asked = np.array([[e["x"], e["y"]] for e in edits])
    assert np.linalg.norm(seen[[48, 54]] - asked, axis=1).mean() < 0.5 * np.linalg.norm(lm[[48, 54]] - asked, axis=1).mean()


def test_transfer_with_and_without_the_source_neutral(capsys, tmp_path):
    out = tmp_path / "t.png"
    code, _, err = run(capsys, "transfer", "--source", SMILE, "--target", london_photo("104"), "--source-neutral", NEUTRAL, "-o", out)
    assert code == 0 and out.is_file() and "estimated" not in err
    out2 = tmp_path / "t2.png"
    code, _, err = run(capsys, "transfer", "--source", SMILE, "--target", london_photo("104"), "-o", out2)
    assert code == 0 and "estimated" in err
    still = tmp_path / "still.png"
    code, _, err = run(capsys, "transfer", "--source", SMILE, "--target", london_photo("104"), "--source-neutral", NEUTRAL,
                       "--pose", "off", "-o", still)
    assert code == 0, err
    from engine.face.tracker import FaceTracker, TrackerOptions
    from engine.geometry.pose import RIGID_MESH

    with FaceTracker.create(TrackerOptions(smoothing=None)) as tracker:
        meshes = {name: tracker.detect(read_image(path)).face.mesh
                  for name, path in (("target", london_photo("104")), ("source", SMILE), ("source_neutral", NEUTRAL),
                                     ("with_pose", out), ("estimated", out2), ("still", still))}
    iod = float(np.linalg.norm(meshes["target"][33] - meshes["target"][263]))

    def width(mesh):
        return float(np.linalg.norm(mesh[61] - mesh[291])) / float(np.linalg.norm(mesh[33] - mesh[263]))

    # The source smile widens its mouth; the outputs widen the target's mouth likewise (less when
    # the source's neutral is estimated from the smile itself, which keeps some of it).
    grown = width(meshes["source"]) - width(meshes["source_neutral"])
    assert grown > 0.05
    for name, share in (("with_pose", 0.5), ("still", 0.5), ("estimated", 0.25)):
        assert width(meshes[name]) - width(meshes["target"]) > share * grown, name
    # --pose off keeps the head where the photo has it: the rigid points stay within 1 px.
    rigid = list(RIGID_MESH)
    assert np.abs(meshes["still"][rigid] - meshes["target"][rigid]).max() < 0.02 * iod


def test_reenact_writes_mp4_gif_and_png_frames_with_landmarks(capsys, tmp_path):
    mp4 = tmp_path / "out.mp4"
    code, _, err = run(capsys, "reenact", "--driving", SAMPLES / "driving.mp4", "--target", SAMPLES / "target_f.jpg",
                       "-o", mp4, "--max-frames", "45", "--neutral-frame", "0")
    assert code == 0, err
    with VideoReader(mp4) as reader:
        frames = [f for _, _, f in reader]
    assert len(frames) == 45
    track = read_landmarks_json(Path(str(mp4) + ".landmarks.json"))
    assert len(track.frames) == 45 and track.frames[0].landmarks.shape == (68, 2)
    # The clip smiles from 0.6 s to 1.6 s (frame 40): the target's mouth corners widen.
    width = [np.linalg.norm(f.landmarks[54] - f.landmarks[48]) for f in track.frames]
    assert width[-1] > width[0] + 3.0
    gif = tmp_path / "out.gif"
    assert run(capsys, "reenact", "--driving", SAMPLES / "driving.mp4", "--target", SAMPLES / "target_m.jpg", "-o", gif, "--max-frames", "5")[0] == 0
    with VideoReader(gif) as reader:
        assert sum(1 for _ in reader) == 5
    folder = tmp_path / "frames"
    assert run(capsys, "reenact", "--driving", SAMPLES / "driving.mp4", "--target", SAMPLES / "target_cc0.jpg", "-o", f"{folder}/", "--max-frames", "4")[0] == 0
    assert len(list(folder.glob("frame_*.png"))) == 4 and (folder / "landmarks.json").is_file()


def test_models_lists_the_warp_and_the_backends(capsys):
    code, out, _ = run(capsys, "models")
    assert code == 0 and "warp" in out and "onnxruntime" in out


# ---- bad input: one clear line, non-zero exit, no output file ------------------------------------

def assert_refused(capsys, out: Path, *argv, match: str) -> None:
    code, stdout, err = run(capsys, *argv)
    assert code != 0
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "error:" in lines[0], err
    assert match in lines[0], lines[0]
    assert not out.exists()
    if out.parent.is_dir():
        assert no_temp_files(out.parent)


def test_not_an_image(capsys, tmp_path):
    fake = tmp_path / "notes.jpg"
    fake.write_text("this is not a photo")
    out = tmp_path / "o.png"
    assert_refused(capsys, out, "edit", fake, "--expression", "happy", "-o", out, match="not a readable image")


def test_no_face(capsys, tmp_path):
    blank = tmp_path / "wall.png"
    write_image(blank, np.full((300, 400, 3), 180, np.uint8))
    out = tmp_path / "o.png"
    assert_refused(capsys, out, "edit", blank, "--expression", "sad", "-o", out, match="no face")


def test_a_face_too_small(capsys, tmp_path):
    photo = read_image(DATA / "cc0" / "zoom_60cm.jpg")
    small = cv2.resize(photo, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)
    canvas = np.full((960, 1280, 3), 120, np.uint8)
    canvas[400:400 + small.shape[0], 500:500 + small.shape[1]] = small
    path = tmp_path / "far.png"
    write_image(path, canvas)
    out = tmp_path / "o.png"
    code, _, err = run(capsys, "edit", path, "--expression", "happy", "-o", out)
    assert code != 0 and "the face is too small" in err and "px across" in err, err
    assert not out.exists()


def test_several_faces_use_the_largest_and_say_so(capsys, tmp_path):
    a = read_image(london_photo("004"))
    b = cv2.resize(read_image(london_photo("010")), (300, 300))
    canvas = np.full((512, 812, 3), 200, np.uint8)
    canvas[:, :512], canvas[:300, 512:] = a, b
    path = tmp_path / "group.png"
    write_image(path, canvas)
    out = tmp_path / "o.png"
    code, _, err = run(capsys, "edit", path, "--expression", "happy", "-o", out)
    assert code == 0 and "2 faces" in err and "largest" in err
    result = read_image(out)
    assert (result[:, 520:] == canvas[:, 520:]).all()  # the smaller face is untouched
    assert (result[:, :512] != canvas[:, :512]).any()


def test_a_very_large_photo_works(capsys, tmp_path):
    big = cv2.resize(read_image(london_photo("010")), (6000, 6000), interpolation=cv2.INTER_LINEAR)
    big = cv2.copyMakeBorder(big, 0, 0, 1000, 1000, cv2.BORDER_REPLICATE)
    path = tmp_path / "big.jpg"
    write_image(path, big)
    del big
    out = tmp_path / "big_happy.jpg"
    code, _, err = run(capsys, "edit", path, "--expression", "happy", "-o", out)
    assert code == 0, err
    assert read_image(out).shape == (6000, 8000, 3)


def test_unknown_label_lists_the_valid_ones(capsys, tmp_path):
    out = tmp_path / "o.png"
    assert_refused(capsys, out, "edit", NEUTRAL, "--expression", "smug", "-o", out, match="valid: neutral, happy, sad")


def test_intensity_out_of_range(capsys, tmp_path):
    out = tmp_path / "o.png"
    assert_refused(capsys, out, "edit", NEUTRAL, "--expression", "happy", "--intensity", "2", "-o", out, match="0 to 1.5")


@pytest.mark.parametrize("content, match", [
    ("[{\"index\": 48, \"x\": 1.0", "edit"),
    ("[{\"index\": 99, \"x\": 1.0, \"y\": 2.0}]", "99"),
    ("{\"index\": 3}", "list"),
])
def test_malformed_landmark_json(capsys, tmp_path, content, match):
    path = tmp_path / "bad.json"
    path.write_text(content)
    out = tmp_path / "o.png"
    assert_refused(capsys, out, "edit", NEUTRAL, "--landmarks", path, "-o", out, match=match)


def test_unwritable_output_path(capsys, tmp_path):
    out = tmp_path / "missing-folder" / "o.png"
    assert_refused(capsys, out, "edit", NEUTRAL, "--expression", "happy", "-o", out, match="cannot write")


def test_an_existing_output_survives_a_failed_run(capsys, tmp_path):
    out = tmp_path / "keep.png"
    write_image(out, np.zeros((8, 8, 3), np.uint8))
    before = out.read_bytes()
    blank = tmp_path / "wall.png"
    write_image(blank, np.full((300, 400, 3), 180, np.uint8))
    code, _, _ = run(capsys, "edit", blank, "--expression", "happy", "-o", out, "--overwrite")
    assert code != 0 and out.read_bytes() == before


def test_truncated_driving_video_keeps_a_valid_output_and_says_so(capsys, tmp_path):
    clip = tmp_path / "cut.mp4"
    data = (SAMPLES / "driving.mp4").read_bytes()
    clip.write_bytes(data[: len(data) // 3])
    out = tmp_path / "out.mp4"
    code, _, err = run(capsys, "reenact", "--driving", clip, "--target", SAMPLES / "target_f.jpg", "-o", out)
    assert code == 0, err
    assert "truncated" in err
    with VideoReader(out) as reader:
        n = sum(1 for _ in reader)
    assert 0 < n < 100


def test_not_a_video(capsys, tmp_path):
    fake = tmp_path / "clip.mp4"
    fake.write_bytes(b"\x00" * 1000)
    out = tmp_path / "o.mp4"
    assert_refused(capsys, out, "reenact", "--driving", fake, "--target", SAMPLES / "target_f.jpg", "-o", out, match="not a readable video")


def test_a_missing_camera(capsys, tmp_path):
    out = tmp_path / "o.mp4"
    assert_refused(capsys, out, "reenact", "--driving", "7", "--target", SAMPLES / "target_f.jpg", "-o", out, "--max-frames", "3", match="camera 7")


def test_the_console_script_runs_end_to_end(tmp_path):
    fes = shutil.which("fes", path=str(Path(sys.executable).parent)) or "fes"
    out = tmp_path / "s.png"
    env = dict(os.environ)
    done = subprocess.run([fes, "edit", str(NEUTRAL), "--expression", "surprise", "-o", str(out)], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert read_image(out).shape == read_image(NEUTRAL).shape
    assert done.stderr.strip() == ""  # MediaPipe's native start-up chatter does not reach the user
    bad = subprocess.run([fes, "edit", str(NEUTRAL), "--expression", "smug", "-o", str(out), "--overwrite"], capture_output=True, text=True, env=env, timeout=300)
    assert bad.returncode == 1 and bad.stderr.strip().count("\n") == 0
    wall = tmp_path / "wall.png"
    write_image(wall, np.full((300, 400, 3), 180, np.uint8))
    no_face = subprocess.run([fes, "edit", str(wall), "--expression", "happy", "-o", str(out), "--overwrite"], capture_output=True, text=True, env=env, timeout=300)
    assert no_face.returncode == 1
    assert no_face.stderr.strip().splitlines() == ["fes edit: error: no face found in the image"]
