"""Live mode as an animator uses it: counters that mean something, Record that says Stop, the
virtual camera, a model panel in plain words, a view that uses its space, kept editor options."""

from __future__ import annotations

import math
import time

import numpy as np
from PySide6.QtCore import QRectF
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QScrollArea

from engine.io import IMAGE_SUFFIXES
from fes_desktop.panels.source_panel import PHOTO_FILTER
from fes_desktop.settings import ExportSettings, ModelSettings, Settings
from fes_desktop.sources import SourceSpec
from fes_desktop.widgets.frame_view import FrameView
from tests.conftest import held_out_people, london_photo
from tests.desktop.conftest import RENDER_MS, STARTUP_MS, edit_settings, wait_live, wait_target



def _drop_display_frames(qtbot, window) -> None:
    """Keep the UI thread busy for a second: the worker replaces results the UI never takes."""
    time.sleep(1.0)
    qtbot.wait(1200)  # the next statistics carry the drops


def test_dropped_frames_count_while_live_reset_on_a_new_source_and_the_plot_breaks_across_photo_edit(qtbot, make_window):
    window = make_window()
    live = window.live_view
    wait_live(qtbot, window, frames=5)
    _drop_display_frames(qtbot, window)
    before = live.dropped
    assert before > 0 and f"dropped {before}" in window.status_line.text()

    # A pause in photo edit neither resets nor adds: the count is summed over the source's runs.
    paused = time.monotonic()
    window.set_mode("edit")
    qtbot.wait(2000)
    run = live.stats.run
    resumed = time.monotonic()
    window.set_mode("live")
    qtbot.waitUntil(lambda: live.stats is not None and live.stats.run > run, timeout=STARTUP_MS)
    assert live.dropped >= before
    qtbot.wait(1200)
    times, fps = window.performance_panel.fps_history()
    drawn = np.isfinite(fps[:-1]) & np.isfinite(fps[1:])  # segments the plot draws
    across = drawn & (times[:-1] < paused + 0.6) & (times[1:] > resumed)
    assert drawn.any() and not across.any(), "a line is drawn across the photo-edit pause"

    # A new source starts from zero, and late statistics of the old one do not count.
    photo = SourceSpec("photo", london_photo(held_out_people()[0]))
    window.choose_source(photo)
    assert live.dropped == 0
    qtbot.waitUntil(lambda: live.stats is not None and live.stats.source == photo, timeout=STARTUP_MS)
    assert live.dropped < before


def test_record_turns_into_stop_and_the_export_panel_fits_while_recording(qtbot, make_window, tmp_path):
    settings = Settings(export=ExportSettings(folder=str(tmp_path / "recordings")))
    window = make_window(settings, store=False)
    wait_live(qtbot, window, frames=3)
    window.docks["export"].raise_()
    record = window.commands.record
    record.trigger()
    qtbot.waitUntil(lambda: window.exports.last.active, timeout=RENDER_MS)
    assert record.text().replace("&", "") == "Stop recording"
    assert "REC" in window.status_line.text()
    qtbot.wait(300)
    scroll = window.docks["export"].widget()
    assert isinstance(scroll, QScrollArea)
    assert scroll.verticalScrollBar().maximum() == 0 and scroll.horizontalScrollBar().maximum() == 0
    assert window.export_panel.record_status.text().startswith("● Recording fes-")
    record.trigger()
    qtbot.waitUntil(lambda: not window.exports.last.active and window.exports.last.path is not None, timeout=RENDER_MS)
    assert record.text().replace("&", "") == "Record"
    assert window.exports.last.path.is_file() and window.exports.last.frames > 0


def test_the_virtual_camera_toggle_says_what_is_missing_and_the_live_view_goes_on(qtbot, make_window):
    """No virtual camera device exists on this machine (no v4l2loopback, no OBS): the real
    pyvirtualcam refuses, and the app says so in its own words and keeps running."""
    window = make_window()
    wait_live(qtbot, window, frames=3)
    window.commands.virtual_camera.trigger()
    qtbot.waitUntil(lambda: any(m.title == "Virtual camera unavailable" for m in window.errors.shown), timeout=RENDER_MS)
    message = next(m for m in window.errors.shown if m.title == "Virtual camera unavailable")
    assert "virtual camera" in message.hint.lower() and "pip" not in message.full_text() and "--" not in message.full_text()
    qtbot.waitUntil(lambda: not window.commands.virtual_camera.isChecked(), timeout=RENDER_MS)
    assert window.live_view.virtual_camera is None
    wait_live(qtbot, window, frames=5)


def test_the_model_panel_speaks_to_artists_and_names_the_backend_auto_picked(qtbot, make_window):
    window = make_window(Settings(model=ModelSettings("warpguided-london-256", "auto")), store=False)
    panel = window.model_panel
    qtbot.waitUntil(lambda: panel.purpose_label.text().startswith("Starts from the warp"), timeout=STARTUP_MS)
    quality = panel.quality_label.text()
    assert "warp" in quality and "%" in quality
    assert not panel.details.isVisible()
    wait_live(qtbot, window, frames=3)
    qtbot.waitUntil(lambda: "frames per second" in panel.speed_label.text(), timeout=RENDER_MS)
    visible = " ".join(label.text() for label in (panel.purpose_label, panel.quality_label, panel.speed_label))
    assert not any(word in visible for word in ("FAR", "TAR", "rank"))
    auto = panel.backend_combo.itemText(panel.backend_combo.findData("auto"))
    assert auto.startswith("Auto (picked ") and any(name in auto for name in ("onnxruntime", "torch", "tensorrt"))
    window.docks["model"].raise_()
    qtbot.wait(200)
    scroll = window.docks["model"].widget()
    assert isinstance(scroll, QScrollArea) and scroll.horizontalScrollBar().maximum() == 0  # the words wrap, nothing is cut
    panel.details_toggle.click()
    assert panel.details.isVisible() and "heldout_crop_ssim" in panel.details.text()


def test_the_landmark_editors_mirror_option_is_kept_across_restarts(qtbot, make_window):
    window = make_window(edit_settings())
    wait_target(qtbot, window)
    window.landmark_panel.mirror_check.click()
    assert window.landmark_panel.canvas.mirror
    window.close()
    again = make_window()
    assert again.landmark_panel.mirror_check.isChecked() and again.landmark_panel.canvas.mirror


def test_the_photo_dialog_lists_only_photo_formats():
    assert "All files" not in PHOTO_FILTER and "(*)" not in PHOTO_FILTER
    assert all(f"*{suffix}" in PHOTO_FILTER for suffix in IMAGE_SUFFIXES)


def _image(width: int, height: int) -> QImage:
    image = QImage(width, height, QImage.Format.Format_RGB32)
    image.fill(0x808080)
    return image


def _area(rect: QRectF) -> float:
    return rect.width() * rect.height()


def test_side_by_side_gives_each_image_the_room_its_shape_needs(qtbot):
    view = FrameView()
    qtbot.addWidget(view)
    view.resize(1200, 500)
    view.show()
    webcam, portrait = _image(1280, 720), _image(480, 640)
    view.set_frames(webcam, portrait)
    source, result = view.image_rects()
    bounds = QRectF(view.rect())
    assert bounds.contains(source) and bounds.contains(result) and not source.intersects(result)
    # Equal halves would fit the 16:9 webcam into 588 px of width (331 px tall); sized by their
    # shapes, both images stand at the full common height.
    assert math.isclose(source.height(), result.height(), abs_tol=1.0)
    half = (1200 - 16 - 8) / 2
    halves = half * half * 720 / 1280 + min(484.0, half * 640 / 480) ** 2 * 480 / 640
    assert _area(source) + _area(result) > 1.3 * halves
    sizes = view.pane_size()
    assert abs(sizes.source.width - source.width()) <= 1 and abs(sizes.result.width - result.width()) <= 1

    view.resize(500, 1000)  # tall and narrow: one above the other
    qtbot.waitUntil(lambda: view.image_rects()[1].top() >= view.image_rects()[0].bottom(), timeout=2000)
    source, result = view.image_rects()
    assert math.isclose(source.width(), result.width(), abs_tol=1.0) and source.width() >= 480
