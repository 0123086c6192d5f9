"""The landmark editor with real mouse events: drag a point or a region, mirrored drags, undo/redo."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, Qt

from engine.face.ibug68 import IBUG68_MIRROR
from engine.geometry.faceframe import FaceFrame
from tests.desktop.conftest import changed, edit_settings, result_array, wait_edit, wait_target

MOUTH_CORNER = 48
RIGHT_BROW_MIDDLE = 19


def _settled(qtbot, canvas) -> None:
    """Wait until the canvas keeps its photo rectangle for a few polls: the window's docks are
    sized after the first show, and a drag computed before a refit would land elsewhere."""
    seen = {"rect": None, "same": 0}

    def steady() -> bool:
        rect = canvas.image_rect()
        seen["same"] = seen["same"] + 1 if rect == seen["rect"] else 0
        seen["rect"] = rect
        return seen["same"] >= 3

    qtbot.waitUntil(steady, timeout=5000)


def drag(qtbot, canvas, index: int, dx: float, dy: float, modifier=Qt.KeyboardModifier.NoModifier, steps: int = 6) -> None:
    """Press on point ``index`` and move the mouse by (dx, dy) photo pixels in ``steps``, then release."""
    _settled(qtbot, canvas)
    start = canvas.to_widget(*canvas.document.points[index])
    scale = canvas.image_rect().width() / canvas._image.width()
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, modifier, QPoint(round(start.x()), round(start.y())))
    for step in range(1, steps + 1):
        x = start.x() + dx * scale * step / steps
        y = start.y() + dy * scale * step / steps
        qtbot.mouseMove(canvas, QPoint(round(x), round(y)))
        qtbot.wait(15)
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, modifier, QPoint(round(x), round(y)))


def test_dragging_a_point_moves_it_and_rerenders_and_undo_restores(qtbot, make_window):
    window = make_window(edit_settings())
    wait_target(qtbot, window)
    canvas = window.landmark_panel.canvas
    document = window.landmark_panel.document
    original_points = document.points.copy()
    original_image = result_array(window)
    scale = canvas.image_rect().width() / canvas._image.width()

    serial = window.edits.serial
    drag(qtbot, canvas, MOUTH_CORNER, dx=-14, dy=-12)
    wait_edit(qtbot, window, serial)

    moved = document.points[MOUTH_CORNER] - original_points[MOUTH_CORNER]
    np.testing.assert_allclose(moved, [-14, -12], atol=1.5 / scale + 0.5)
    others = np.delete(np.arange(68), MOUTH_CORNER)
    np.testing.assert_allclose(document.points[others], original_points[others])
    dragged_image = result_array(window)
    assert changed(dragged_image, original_image, window.target.face.bbox) > 0.005
    assert window.landmark_panel.undo_stack.count() == 1
    assert "1 point moved" in window.view._result.caption

    serial = window.edits.serial
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    wait_edit(qtbot, window, serial)
    np.testing.assert_allclose(document.points, original_points)
    assert changed(result_array(window), original_image, level=0) == 0.0

    serial = window.edits.serial
    window.landmark_panel.redo_action.trigger()
    wait_edit(qtbot, window, serial)
    np.testing.assert_allclose(document.points[MOUTH_CORNER] - original_points[MOUTH_CORNER], moved)
    assert changed(result_array(window), dragged_image, window.target.face.bbox, level=3) < 0.01


def test_shift_drag_moves_the_region_and_mirror_follows(qtbot, make_window):
    window = make_window(edit_settings())
    wait_target(qtbot, window)
    canvas = window.landmark_panel.canvas
    document = window.landmark_panel.document
    original = document.points.copy()

    serial = window.edits.serial
    drag(qtbot, canvas, RIGHT_BROW_MIDDLE, dx=0, dy=-10, modifier=Qt.KeyboardModifier.ShiftModifier)
    wait_edit(qtbot, window, serial)
    delta = document.points - original
    brow = list(range(17, 22))
    assert np.allclose(delta[brow], delta[RIGHT_BROW_MIDDLE])  # the whole right brow moved together
    assert delta[RIGHT_BROW_MIDDLE, 1] < -8
    assert np.allclose(np.delete(delta, brow, axis=0), 0.0)

    window.landmark_panel.reset()
    np.testing.assert_allclose(document.points, original)
    window.landmark_panel.mirror_check.setChecked(True)
    serial = window.edits.serial
    drag(qtbot, canvas, MOUTH_CORNER, dx=-12, dy=-6)
    wait_edit(qtbot, window, serial)
    rotation = FaceFrame.of(document.base).rotation
    own = rotation @ (document.points[MOUTH_CORNER] - original[MOUTH_CORNER])
    partner = IBUG68_MIRROR[MOUTH_CORNER]
    mirrored = rotation @ (document.points[partner] - original[partner])
    np.testing.assert_allclose(mirrored, [-own[0], own[1]], atol=1e-6)  # mirror image in the face's axes
    assert abs(own[0]) > 8
    assert window.landmark_panel.undo_stack.count() == 3  # drag, reset, mirrored drag


def test_label_and_drags_combine(qtbot, make_window):
    window = make_window(edit_settings())
    wait_target(qtbot, window)
    document = window.landmark_panel.document
    photo_points = document.points.copy()

    serial = window.edits.serial
    window.expression_panel.choose_label("happy")
    wait_edit(qtbot, window, serial)
    happy_points = document.points.copy()
    assert np.abs(happy_points - photo_points).max() > 3  # the label moved the points

    serial = window.edits.serial
    drag(qtbot, window.landmark_panel.canvas, MOUTH_CORNER, dx=0, dy=10)
    wait_edit(qtbot, window, serial)
    assert document.moved.tolist() == [MOUTH_CORNER]
    np.testing.assert_allclose(document.base, happy_points)  # the drag adds to the label's points
