"""Landmark editor panel: the canvas, mirror option, undo / redo (QUndoStack) and reset."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtGui import QImage, QUndoCommand, QUndoStack
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

from fes_desktop.landmarks import REGIONS, LandmarkDocument, Move, region_of
from fes_desktop.widgets.landmark_canvas import LandmarkCanvas

HINT = "Drag a point · Shift+drag moves its region · wheel zooms · right-drag pans · double-click fits"


class MoveCommand(QUndoCommand):
    """A finished drag or a reset. The first redo() runs when pushed; the document already shows
    ``after`` then, and setting it again triggers the final render of the drag."""

    def __init__(self, document: LandmarkDocument, move: Move) -> None:
        super().__init__(move.description)
        self.document = document
        self.before = move.before.copy()
        self.after = move.after.copy()

    def redo(self) -> None:
        self.document.set_offsets(self.after)

    def undo(self) -> None:
        self.document.set_offsets(self.before)


class LandmarkPanel(QWidget):
    mirror_changed = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("landmarkPanel")
        self.document = LandmarkDocument()
        self.undo_stack = QUndoStack(self)
        self.canvas = LandmarkCanvas(self.document)
        self.canvas.move_finished.connect(self._push)
        self.canvas.hovered.connect(self._on_hover)

        self.mirror_check = QCheckBox("Mirror")
        self.mirror_check.setObjectName("landmarkMirror")
        self.mirror_check.setToolTip("Move the matching point on the other half of the face mirror-symmetrically")
        self.mirror_check.toggled.connect(self._on_mirror)
        self.undo_action = self.undo_stack.createUndoAction(self, "Undo")
        self.redo_action = self.undo_stack.createRedoAction(self, "Redo")
        # Short labels: the stack's own action texts name the command ("Undo Move point 48"),
        # which goes into the tooltip instead of widening the panel.
        undo = QToolButton()
        undo.setText("Undo")
        undo.setEnabled(False)
        undo.clicked.connect(self.undo_stack.undo)
        self.undo_stack.canUndoChanged.connect(undo.setEnabled)
        self.undo_stack.undoTextChanged.connect(lambda text: undo.setToolTip(f"Undo {text} (Ctrl+Z)"))
        redo = QToolButton()
        redo.setText("Redo")
        redo.setEnabled(False)
        redo.clicked.connect(self.undo_stack.redo)
        self.undo_stack.canRedoChanged.connect(redo.setEnabled)
        self.undo_stack.redoTextChanged.connect(lambda text: redo.setToolTip(f"Redo {text} (Ctrl+Shift+Z)"))
        self.reset_button = QToolButton()
        self.reset_button.setText("Reset")
        self.reset_button.setToolTip("Put every point back where the expression puts it (undoable)")
        self.reset_button.clicked.connect(self.reset)
        fit = QToolButton()
        fit.setText("Fit")
        fit.setToolTip("Fit the photo to the canvas")
        fit.clicked.connect(self.canvas.fit)
        tools = QHBoxLayout()
        tools.addWidget(self.mirror_check)
        tools.addStretch(1)
        tools.addWidget(undo)
        tools.addWidget(redo)
        tools.addWidget(self.reset_button)
        tools.addWidget(fit)

        self.hint = QLabel(HINT)
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("color: palette(mid);")
        layout = QVBoxLayout(self)
        layout.addLayout(tools)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(self.hint)

    def set_image(self, image: QImage | None) -> None:
        self.canvas.set_image(image)

    def set_base(self, base68: np.ndarray) -> None:
        self.document.set_base(base68)

    def set_mirror(self, on: bool) -> None:
        """Without emitting ``mirror_changed`` (restoring settings)."""
        self.mirror_check.blockSignals(True)
        self.mirror_check.setChecked(on)
        self.mirror_check.blockSignals(False)
        self.canvas.mirror = on

    def _on_mirror(self, on: bool) -> None:
        self.canvas.mirror = on
        self.mirror_changed.emit(on)

    def new_target(self, base68: np.ndarray) -> None:
        """A new photo: its points, no edits, no history."""
        self.undo_stack.clear()
        self.document.clear()
        self.document.set_base(base68)

    def reset(self) -> None:
        move = self.document.reset()
        if move is not None:
            self.undo_stack.push(MoveCommand(self.document, move))

    def _push(self, move: Move) -> None:
        self.undo_stack.push(MoveCommand(self.document, move))

    def _on_hover(self, index: int) -> None:
        if index < 0:
            self.hint.setText(HINT)
            return
        region = region_of(index)
        size = len(REGIONS[region])
        self.hint.setText(f"Point {index} ({region}) · Shift+drag moves all {size} points of the {region}")

