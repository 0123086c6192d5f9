"""The window with its defaults: live frames from the clip, labels re-render, camera fallbacks."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton

from engine.io import read_image
from fes_desktop.cameras import CameraInfo
from fes_desktop.settings import Settings, SourceSettings
from fes_desktop.sources import DEFAULT_TARGET
from tests.desktop.conftest import RENDER_MS, STARTUP_MS, changed, result_array, wait_edit, wait_live


def test_opens_with_defaults_and_shows_rendered_frames(qtbot, make_window):
    window = make_window()
    wait_live(qtbot, window, frames=5)

    assert window.mode == "live"
    assert window.source.is_clip  # no camera here: the bundled clip drives the view
    assert not window.view.result_pixmap().isNull()
    assert window.view.source_image() is not None
    result = result_array(window)
    target = read_image(DEFAULT_TARGET)
    assert result.shape == target.shape
    face = window.target.face.bbox
    # The clip's face drives the target: within one loop of the clip (4 s: neutral, smile,
    # neutral) the output becomes a new image, not the photo shown as is...
    qtbot.waitUntil(lambda: changed(result_array(window), target, face) > 0.01, timeout=RENDER_MS)
    smiling = result_array(window)
    # ...and it keeps moving with the clip.
    qtbot.waitUntil(lambda: changed(result_array(window), smiling, face) > 0.01, timeout=RENDER_MS)
    assert window.status_line.text().startswith("● LIVE")


def test_choosing_a_label_rerenders_the_result(qtbot, make_window):
    window = make_window()
    wait_live(qtbot, window, frames=3)
    before = result_array(window)

    serial = window.edits.serial
    qtbot.mouseClick(window.expression_panel.findChild(QPushButton, "label_happy"), Qt.MouseButton.LeftButton)
    wait_edit(qtbot, window, serial)
    happy = result_array(window)
    face = window.target.face.bbox
    assert window.mode == "edit"
    assert window.settings.expression.label == "happy"
    assert changed(happy, before, face) > 0.02
    assert changed(happy, read_image(DEFAULT_TARGET), face) > 0.02

    serial = window.edits.serial
    window.expression_panel.choose_label("surprise")
    wait_edit(qtbot, window, serial)
    assert changed(result_array(window), happy, face) > 0.02

    serial = window.edits.serial
    window.expression_panel.choose_label("")  # back to the photo's own expression: the photo itself
    wait_edit(qtbot, window, serial)
    assert changed(result_array(window), read_image(DEFAULT_TARGET), level=0) == 0.0


def test_a_missing_saved_camera_falls_back_to_the_clip(qtbot, make_window):
    settings = replace(Settings(), source=SourceSettings(kind="camera", camera="Studio Cam 4K"))
    window = make_window(settings)
    wait_live(qtbot, window, frames=3)
    assert window.source.is_clip
    assert "Studio Cam 4K" in window.notice.text()


def test_a_camera_that_cannot_open_falls_back_to_the_clip(qtbot, make_window):
    # The lister reports a camera that OpenCV cannot open: the real open fails with CameraError.
    ghost = CameraInfo(index=97, name="Ghost camera", device_id="ghost")
    window = make_window(cameras=lambda: [ghost])
    assert window.source.kind == "camera"  # "auto" picks the first camera
    qtbot.waitUntil(lambda: window.source.is_clip, timeout=STARTUP_MS)
    wait_live(qtbot, window, frames=3)
    assert [m.title for m in window.errors.shown] == ["Camera unavailable"]
    assert "no other program" in window.errors.shown[0].hint
    assert "Ghost camera" in window.notice.text()
