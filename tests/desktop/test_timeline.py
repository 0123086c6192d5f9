"""The Timeline panel: keyframed expressions of the target rendered to a video with its landmarks
(the app's ``fes animate``), checked on the frames written and read back."""

from __future__ import annotations

import numpy as np

from engine.animate import Keyframe, frame_times
from engine.face.ibug68 import inter_ocular, mesh_to_ibug68
from engine.io import VideoReader
from engine.io.landmarks_json import read_landmarks_json, sidecar_path
from fes_desktop.settings import ExportSettings, Settings, ViewSettings
from tests.desktop.conftest import STARTUP_MS, wait_target
from training.protocol import MeshDetector

KEYS = (Keyframe(0.0, "neutral", 1.0), Keyframe(0.6, "happy", 1.2), Keyframe(1.2, "neutral", 1.0))
FPS = 5.0


def _mouth_width(points68: np.ndarray) -> float:
    return float(np.hypot(*(points68[54] - points68[48])) / inter_ocular(points68))


def test_a_timeline_renders_the_keys_into_a_video_whose_faces_follow_them(qtbot, make_window, tmp_path):
    settings = Settings(view=ViewSettings(mode="edit"), export=ExportSettings(format="mp4", sidecar=True))
    window = make_window(settings, store=False)
    wait_target(qtbot, window)
    panel = window.timeline_panel
    while panel.table.rowCount():
        panel.table.removeRow(0)
    for key in KEYS:
        panel.add_key(key)
    assert panel.keys() == KEYS
    out = tmp_path / "anim.mp4"
    window.animations.render(panel.keys(), FPS, out)
    qtbot.waitUntil(lambda: window.animations.last is not None, timeout=STARTUP_MS)
    expected = len(frame_times(list(KEYS), FPS))
    assert window.animations.last.frames == expected and out.is_file()
    assert panel.status.text().startswith(f"Saved {expected} frames")

    with VideoReader(out) as reader:
        frames = [image for _, _, image in reader]
    track = read_landmarks_json(sidecar_path(out))
    assert len(frames) == expected == len(track.frames)
    # Detected on the frames written: the mouth widens towards the happy key and comes back.
    with MeshDetector() as det:
        widths = [_mouth_width(mesh_to_ibug68(det.mesh(image))) for image in frames]
    peak = int(round(KEYS[1].time * FPS))
    assert widths[peak] > widths[0] + 0.03 and widths[peak] > widths[-1] + 0.03, widths
    assert abs(widths[-1] - widths[0]) < 0.03


def test_the_timeline_refuses_too_few_keys_or_two_at_one_time_in_its_own_words(qtbot, make_window):
    window = make_window(Settings(view=ViewSettings(mode="edit")), store=False)
    panel = window.timeline_panel
    panel.table.selectRow(0)
    panel.remove_selected()
    panel.remove_selected()
    assert panel.table.rowCount() == 1
    panel.render_button.click()
    assert panel.status.text() == "Cannot render: add at least two keys to animate between."
    left = panel.keys_unchecked()[0].time
    panel.add_key(Keyframe(left, "happy", 1.0))
    panel.render_button.click()
    assert f"two keys at {left:g} s" in panel.status.text() and "--" not in panel.status.text()
    assert window.animations.last is None and not window.animations.running
