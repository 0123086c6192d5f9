"""Panels with real events: keyboard shortcuts, neutral capture, dropping a photo, several faces."""

from __future__ import annotations

import cv2
import numpy as np
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from engine.io import read_image, write_image
from fes_desktop.sources import SAMPLE_TARGETS
from tests.desktop.conftest import RENDER_MS, STARTUP_MS, edit_settings, wait_live, wait_target


def test_a_smiling_capture_is_refused_with_the_reason_and_kept_only_when_confirmed(qtbot, make_window):
    from PySide6.QtWidgets import QMessageBox

    from fes_desktop.sources import SourceSpec
    from tests.conftest import held_out_people, london_photo

    window = make_window()
    wait_live(qtbot, window, frames=2)
    window.choose_source(SourceSpec("photo", london_photo(held_out_people()[0], "smiling")))
    wait_live(qtbot, window, frames=3)
    # The driver's expression is recognised live and shown over the source.
    qtbot.waitUntil(lambda: window.live_view.driver_expression.startswith("happy"), timeout=RENDER_MS)
    assert "reads as happy" in window.view.captions[0]
    for answer, kept in ((QMessageBox.StandardButton.Cancel, False), (QMessageBox.StandardButton.Yes, True)):
        window.commands.capture_neutral.trigger()
        qtbot.waitUntil(lambda: window.neutral.prompt is not None and window.neutral.prompt.isVisible(), timeout=RENDER_MS)
        assert "not at rest" in window.neutral.prompt.text()
        assert window.source_panel.neutral_bar.value() == 0
        window.neutral.prompt.button(answer).click()
        if kept:
            qtbot.waitUntil(lambda: window.source_panel.neutral_bar.value() > 0, timeout=RENDER_MS)
            assert window.source_panel.neutral_advice.text().startswith("Kept as you asked")
        else:
            qtbot.wait(300)
            assert window.neutral.prompt is None and window.source_panel.neutral_bar.value() == 0


def test_shortcuts_and_capturing_the_neutral_reference(qtbot, make_window):
    window = make_window()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    wait_live(qtbot, window, frames=3)

    qtbot.keyClick(window, Qt.Key.Key_L)
    assert window.view.overlay and window.settings.view.overlay
    qtbot.keyClick(window, Qt.Key.Key_M)
    assert window.settings.source.mirror is False and not window.source_panel.mirror_check.isChecked()
    qtbot.keyClick(window, Qt.Key.Key_V)
    assert window.view.layout_mode == "result"

    qtbot.keyClick(window, Qt.Key.Key_N)
    # The clip smiles in its middle: a capture there is refused until confirmed.
    qtbot.waitUntil(lambda: window.source_panel.neutral_bar.value() > 0 or window.neutral.prompt is not None,
                    timeout=RENDER_MS)
    if window.neutral.prompt is not None:
        window.neutral.prompt.button(window.neutral.prompt.StandardButton.Yes).click()
        qtbot.waitUntil(lambda: window.source_panel.neutral_bar.value() > 0, timeout=RENDER_MS)
        window.activateWindow()  # the shortcuts below go to the window again, not the closed prompt
        qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    advice = window.source_panel.neutral_advice.text()
    assert advice.startswith("Good neutral reference") or advice.startswith("Kept as you asked")
    assert window.source_panel.neutral_bar.format() == "%p %"

    window.commands.clear_neutral.trigger()
    qtbot.waitUntil(lambda: window.source_panel.neutral_bar.value() == 0, timeout=RENDER_MS)
    assert window.source_panel.neutral_advice.text().startswith("Not captured")
    assert "cleared" in window.statusBar().currentMessage()

    qtbot.keyClick(window, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
    assert window.mode == "edit"
    qtbot.keyClick(window, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert window.mode == "live"
    wait_live(qtbot, window, frames=3)  # the pipeline resumes


def test_dropping_a_photo_and_picking_one_of_several_faces(qtbot, make_window, tmp_path):
    window = make_window(edit_settings())
    wait_target(qtbot, window)
    left, right = read_image(SAMPLE_TARGETS[0]), read_image(SAMPLE_TARGETS[1])
    right = cv2.resize(right, (left.shape[1], left.shape[0]), interpolation=cv2.INTER_AREA)
    pair = tmp_path / "two people.jpg"
    write_image(pair, np.concatenate([left, right], axis=1))

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(pair))])
    drop = QDropEvent(QPointF(20, 20), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    window.target_panel.dropEvent(drop)
    qtbot.waitUntil(lambda: window.target is not None and window.target.path == pair, timeout=STARTUP_MS)

    assert window.statusBar().currentMessage() == "two people.jpg: 2 faces found"  # not "Loading ..."
    combo = window.target_panel.face_combo
    assert len(window.target.faces) == 2 and combo.count() == 2 and combo.isEnabled()
    notes = window.target_panel.notes.text()
    assert "2 faces found" in notes and "--" not in notes  # the app's words, no command-line flags
    first_box = window.target.face.bbox
    window.target_panel.face_chosen.emit(1)
    qtbot.waitUntil(lambda: window.target.chosen == 1, timeout=RENDER_MS)
    assert window.target.face.bbox != first_box
    assert window.settings.target.face_index == 1
    points = window.landmark_panel.document.points
    x0, y0, x1, y1 = window.target.face.bbox
    assert (points[:, 0] >= x0 - 5).all() and (points[:, 0] <= x1 + 5).all()  # the editor shows that face
