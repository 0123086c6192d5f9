"""Timeline panel: keyframed expressions of the target photo (paper 2's interpolation through the
shape model, engine.animate), rendered to MP4, GIF or a PNG sequence with the landmarks sidecar.

A table of keys (time in seconds, label, intensity), Add and Remove, a frame rate, and Render
with progress and cancel. The keys read like ``fes animate --keys``: "0:neutral,1.5:happy@1.0".
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)

from engine.animate import MAX_DURATION, Keyframe, frame_times
from engine.errors import InputError
from engine.geometry.labels import EXPRESSIONS, MAX_INTENSITY

DEFAULT_KEYS = (Keyframe(0.0, "neutral", 1.0), Keyframe(1.5, "happy", 1.0), Keyframe(3.0, "surprise", 0.8))
TIME, LABEL, INTENSITY = range(3)


class TimelinePanel(QWidget):
    """``render_requested`` carries the keys (a tuple of Keyframe, checked) and the frame rate;
    the window asks where to write and runs the job (see ``run_started`` / ``set_progress``)."""

    render_requested = Signal(object, float)  # tuple[Keyframe, ...], fps

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("timelinePanel")
        self.table = QTableWidget(0, 3)
        self.table.setObjectName("timelineKeys")
        self.table.setHorizontalHeaderLabels(["Time (s)", "Expression", "Intensity"])
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        add = QPushButton("Add key")
        add.clicked.connect(self.add_key)
        remove = QPushButton("Remove key")
        remove.clicked.connect(self.remove_selected)
        self.fps_spin = QSpinBox()
        self.fps_spin.setRange(1, 60)
        self.fps_spin.setValue(25)
        self.fps_spin.setSuffix(" fps")
        self.render_button = QPushButton("Render animation…")
        self.render_button.setObjectName("timelineRender")
        self.render_button.setToolTip("Render the photo moving through the keys (the Export panel's format and size)")
        self.render_button.clicked.connect(self._request)
        self.cancel_button = QPushButton("Cancel")
        self.progress = QProgressBar()
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setObjectName("timelineStatus")

        tools = QHBoxLayout()
        tools.addWidget(add)
        tools.addWidget(remove)
        tools.addStretch(1)
        tools.addWidget(self.fps_spin)
        run = QHBoxLayout()
        run.addWidget(self.render_button)
        run.addWidget(self.cancel_button)
        run.addWidget(self.progress, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.table, 1)
        layout.addLayout(tools)
        layout.addLayout(run)
        layout.addWidget(self.status)
        for key in DEFAULT_KEYS:
            self.add_key(key)
        self.set_running(False)

    # ---- keys ----

    def add_key(self, key: Keyframe | None = None) -> None:
        """Append a row (by default one second after the last key, neutral)."""
        if not isinstance(key, Keyframe):
            last = self.keys_unchecked()[-1].time if self.table.rowCount() else -1.0
            key = Keyframe(min(last + 1.0, MAX_DURATION), "neutral", 1.0)
        row = self.table.rowCount()
        self.table.insertRow(row)
        time_spin = QDoubleSpinBox()
        time_spin.setRange(0.0, MAX_DURATION)
        time_spin.setDecimals(2)
        time_spin.setSingleStep(0.25)
        time_spin.setValue(key.time)
        label = QComboBox()
        for name in EXPRESSIONS:
            label.addItem(name.capitalize(), name)
        label.setCurrentIndex(EXPRESSIONS.index(key.label))
        intensity = QSpinBox()
        intensity.setRange(0, int(MAX_INTENSITY * 100))
        intensity.setSuffix(" %")
        intensity.setValue(int(round(key.intensity * 100)))
        self.table.setCellWidget(row, TIME, time_spin)
        self.table.setCellWidget(row, LABEL, label)
        self.table.setCellWidget(row, INTENSITY, intensity)

    def remove_selected(self) -> None:
        rows = sorted({index.row() for index in self.table.selectedIndexes()}, reverse=True)
        for row in rows or [self.table.rowCount() - 1]:
            if row >= 0:
                self.table.removeRow(row)

    def keys_unchecked(self) -> list[Keyframe]:
        """The rows as keyframes, in table order."""
        keys = []
        for row in range(self.table.rowCount()):
            time_spin = self.table.cellWidget(row, TIME)
            label = self.table.cellWidget(row, LABEL)
            intensity = self.table.cellWidget(row, INTENSITY)
            keys.append(Keyframe(float(time_spin.value()), str(label.currentData()), intensity.value() / 100.0))
        return keys

    def keys(self) -> tuple[Keyframe, ...]:
        """The keys in time order; raises InputError (with the reason in the app's words) for
        fewer than two keys or two keys at the same time."""
        keys = sorted(self.keys_unchecked(), key=lambda k: k.time)
        if len(keys) < 2:
            raise InputError("add at least two keys to animate between")
        for a, b in zip(keys, keys[1:]):
            if b.time - a.time < 1e-6:
                raise InputError(f"two keys at {a.time:g} s: give each key its own time")
        return tuple(keys)

    def frame_count(self) -> int:
        return len(frame_times(list(self.keys()), float(self.fps_spin.value())))

    # ---- running ----

    def _request(self) -> None:
        try:
            keys = self.keys()
        except InputError as error:
            self.status.setText(f"Cannot render: {error}.")
            return
        self.render_requested.emit(keys, float(self.fps_spin.value()))

    def set_running(self, running: bool) -> None:
        self.render_button.setEnabled(not running)
        self.cancel_button.setVisible(running)
        self.progress.setVisible(running)

    def set_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.status.setText(f"Rendering frame {done} of {total}")

    def finished(self, path: Path, frames: int) -> None:
        self.set_running(False)
        self.status.setText(f"Saved {frames} frames: {path.name}")
        self.status.setToolTip(str(path))
