"""Hostile and careless inputs (issue 11): each fails with one clear line and loses no file."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from engine.cli.main import main
from engine.errors import InputError, ModelError, NoFaceError
from engine.io import read_image, read_landmark_edits, write_image
from engine.io.atomic import atomic_path, remove_stale_temps
from engine.manifest import load_manifest, model_file
from resources import MODELS, SAMPLES
from tests.conftest import london_photo
from training.cli import main as train_main

PHOTO = london_photo("087")
BUNDLED = MODELS / "lgan-london-cpu64"


def run(capsys, *argv) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def one_error_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "error:" in lines[0], err
    return lines[0]


def test_an_output_that_is_an_input_is_refused_even_through_a_link(capsys, tmp_path):
    clip = tmp_path / "d.mp4"
    shutil.copy(SAMPLES / "driving.mp4", clip)
    before = clip.read_bytes()
    link = tmp_path / "link.mp4"
    link.symlink_to(clip)
    for out in (clip, link):
        code, err = run(capsys, "reenact", "--driving", clip, "--target", SAMPLES / "target_f.jpg", "--max-frames", "2", "-o", out, "--overwrite")
        assert code == 1 and "is an input" in one_error_line(err)
    assert clip.read_bytes() == before


def test_an_existing_output_is_replaced_only_with_overwrite(capsys, tmp_path):
    out = tmp_path / "o.png"
    write_image(out, np.zeros((8, 8, 3), np.uint8))
    code, err = run(capsys, "edit", PHOTO, "--expression", "happy", "-o", out)
    assert code == 1 and "--overwrite" in one_error_line(err)
    assert read_image(out).shape == (8, 8, 3)
    code, _ = run(capsys, "edit", PHOTO, "--expression", "happy", "-o", out, "--overwrite")
    assert code == 0 and read_image(out).shape == read_image(PHOTO).shape


def model_copy(tmp_path: Path, **changes) -> Path:
    folder = tmp_path / "m"
    shutil.copytree(BUNDLED, folder)
    data = json.loads((folder / "manifest.json").read_text())
    data.update(changes)
    (folder / "manifest.json").write_text(json.dumps(data))
    return folder


@pytest.mark.parametrize("changes, match", [
    ({"onnx": "/dev/zero"}, "outside the model folder"),
    ({"onnx": "../../etc/passwd"}, "outside the model folder"),
    ({"onnx": "."}, "must name a file"),
    ({"image_size": 0}, "image_size"),
    ({"metrics": {"transfer": {"crop_ssim": 0.78}}}, "metrics must map names to numbers"),
])
def test_a_manifest_cannot_point_anywhere(tmp_path, changes, match):
    folder = model_copy(tmp_path, **changes)
    with pytest.raises(ModelError, match=match) as caught:
        manifest = load_manifest(folder)
        model_file(folder, manifest.onnx)
    assert "passwd" not in str(caught.value) or "etc/passwd'" in str(caught.value)


def test_a_link_to_a_device_inside_the_folder_is_not_a_regular_file(tmp_path):
    folder = model_copy(tmp_path)
    (folder / "model.onnx").unlink()
    (folder / "model.onnx").symlink_to("/dev/zero")
    with pytest.raises(ModelError, match="outside the model folder"):
        model_file(folder, "model.onnx")
    (folder / "model.onnx").unlink()
    os.mkfifo(folder / "model.onnx")
    with pytest.raises(ModelError, match="not a regular file"):
        model_file(folder, "model.onnx")


def test_a_model_folder_without_its_onnx_file_is_one_line(capsys, tmp_path):
    folder = model_copy(tmp_path)
    (folder / "model.onnx").unlink()
    out = tmp_path / "o.png"
    code, err = run(capsys, "edit", PHOTO, "--expression", "happy", "--model", folder, "-o", out)
    assert code == 1 and "missing from the model folder" in one_error_line(err) and not out.exists()


def test_deeply_nested_landmark_json_is_a_clear_error(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100000 + "]" * 100000)
    with pytest.raises(InputError, match="nested too deeply"):
        read_landmark_edits(path)


def test_a_fifo_and_a_link_to_dev_zero_say_what_they_are(tmp_path):
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="named pipe"):
        read_image(fifo)
    link = tmp_path / "zero.jpg"
    link.symlink_to("/dev/zero")
    with pytest.raises(InputError, match="is a device"):
        read_image(link)


def test_an_upside_down_face_is_refused_not_garbled(tracker):
    upside_down = np.ascontiguousarray(np.rot90(read_image(PHOTO), 2))
    with pytest.raises(NoFaceError, match="upside down"):
        tracker.detect(upside_down)


def test_landmark_edits_far_outside_the_face_are_refused(capsys, tmp_path):
    edits = tmp_path / "far.json"
    edits.write_text(json.dumps([{"index": 48, "x": 1e9, "y": -1e9}]))
    out = tmp_path / "o.png"
    code, err = run(capsys, "edit", PHOTO, "--landmarks", edits, "-o", out)
    assert code == 1 and "far outside the face" in one_error_line(err) and not out.exists()


def test_stale_temporary_outputs_of_a_dead_process_are_removed(tmp_path):
    final = tmp_path / "out.mp4"
    stale = tmp_path / ".out.tmp-999999999-0123abcd.mp4"
    stale_dir = tmp_path / ".out.mp4.tmp-999999999-0123abcd"
    live = tmp_path / f".out.tmp-{os.getpid()}-0123abcd.mp4"
    other = tmp_path / ".other.tmp-999999999-0123abcd.mp4"
    for path in (stale, live, other):
        path.write_bytes(b"x")
    stale_dir.mkdir()
    with atomic_path(final) as temp:
        temp.write_bytes(b"new")
    assert final.read_bytes() == b"new"
    assert not stale.exists() and not stale_dir.exists()
    assert live.exists() and other.exists()
    assert remove_stale_temps(final) == []


def test_batch_edit_writes_every_label_and_a_contact_sheet_and_reports_failures(capsys, tmp_path):
    wall = tmp_path / "wall.png"
    write_image(wall, np.full((300, 400, 3), 180, np.uint8))
    out = tmp_path / "outdir"
    code = main(["edit", str(PHOTO), str(wall), "--expression", "all", "-o", f"{out}/"])
    captured = capsys.readouterr()
    assert code == 1 and "wall.png: no face" in captured.err
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([f"087_{label}.png" for label in ("neutral", "happy", "sad", "surprise", "anger", "disgust", "fear", "contempt")] + ["087_contact.png"])
    happy, neutral = read_image(out / "087_happy.png"), read_image(PHOTO)
    assert happy.shape == neutral.shape and (np.abs(happy.astype(int) - neutral).max(axis=2) > 10).sum() > 500
    assert read_image(out / "087_contact.png").shape[1] > neutral.shape[1]


@pytest.mark.parametrize("steps", ["-5", "0"])
def test_fes_train_refuses_steps_below_one(capsys, steps):
    code = train_main(["fit", "--config", "training/configs/lgan.toml", "--steps", steps])
    assert code != 0 and "--steps must be at least 1" in capsys.readouterr().err


def test_a_corrupt_checkpoint_never_advises_weights_only_false(tmp_path):
    from training.trainer import CheckpointError, load_checkpoint

    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(bytes(range(256)) * 64)
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(garbage)
    assert "corrupt" in str(caught.value) and "weights_only" not in str(caught.value)


def test_sigterm_removes_the_temporary_output_like_ctrl_c(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    fes = Path(sys.executable).parent / "fes"
    out = tmp_path / "out.mp4"
    proc = subprocess.Popen([str(fes), "reenact", "--driving", str(SAMPLES / "driving.mp4"), "--target", str(SAMPLES / "target_f.jpg"),
                             "-o", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not [p for p in tmp_path.iterdir() if p.name.startswith(".out.tmp-")] and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "terminated" in err
    assert list(tmp_path.iterdir()) == []


def test_reenact_to_a_virtual_camera_without_a_device_fails_in_one_line_and_writes_nothing(capsys, tmp_path):
    """The real pyvirtualcam finds no device here (no v4l2loopback, no OBS): one line, exit 1,
    before any model loads, and the file output asked for beside it is not started."""
    out = tmp_path / "o.mp4"
    argv = ("reenact", "--driving", SAMPLES / "driving.mp4", "--target", SAMPLES / "target_f.jpg", "--max-frames", "2")
    code, err = run(capsys, *argv, "--virtual-camera", "-o", out)
    assert code == 1 and "no virtual camera device" in one_error_line(err)
    assert not out.exists() and not list(tmp_path.iterdir())
    code, err = run(capsys, *argv)
    assert code == 1 and "-o OUTPUT, --virtual-camera, or both" in one_error_line(err)


def test_a_virtual_camera_gets_an_even_size_that_fits():
    from engine.pipeline.virtualcam import MAX_SIDE, VirtualCameraOptions

    for (w, h), expected in (((1920, 1080), (1280, 720)), ((640, 480), (640, 480)), ((513, 683), (512, 684))):
        options = VirtualCameraOptions.fitting(w, h)
        assert (options.width, options.height) == expected
        assert options.width % 2 == options.height % 2 == 0 and max(options.width, options.height) <= MAX_SIDE
