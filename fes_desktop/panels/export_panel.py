"""Export panel: output format, frame rate, size and landmarks sidecar; recording the live result;
rendering a driving video offline with progress and cancel."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from fes_desktop.errors import UserMessage
from fes_desktop.panels.source_panel import VIDEO_FILTER
from fes_desktop.settings import ExportSettings
from fes_desktop.sources import DRIVING_CLIP
from fes_desktop.workers.export_worker import ExportJob, ExportRun, ExportSummary
from fes_desktop.workers.recording import SUFFIXES

FORMATS = (("MP4 video (H.264)", "mp4"), ("Animated GIF", "gif"), ("PNG sequence (folder)", "png"))
SIZES = ((0, "Same as the target photo"), (1024, "1024 px (longer side)"), (720, "720 px"), (512, "512 px"), (256, "256 px"))


def default_export_folder() -> Path:
    videos = Path.home() / "Videos"
    return (videos if videos.is_dir() else Path.home()) / "FES Desktop"


class ExportPanel(QWidget):
    """Output options, the record button, and the offline export: the window turns
    ``offline_requested`` into an :class:`ExportJob` and hands it to :meth:`run_export`; the
    panel runs it in its own thread with progress and cancel and reports the outcome."""

    settings_changed = Signal(object)  # ExportSettings
    offline_requested = Signal(object, object)  # driving video Path, output Path
    export_finished = Signal(object)  # ExportSummary
    export_failed = Signal(object)  # UserMessage

    def __init__(self, record_action: QAction, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("exportPanel")
        self._settings = ExportSettings()
        self._driving = DRIVING_CLIP

        self.format_combo = QComboBox()
        for label, fmt in FORMATS:
            self.format_combo.addItem(label, fmt)
        self.fps_spin = QDoubleSpinBox()
        self.fps_spin.setRange(1.0, 120.0)
        self.fps_spin.setDecimals(2)
        self.fps_spin.setSuffix(" fps")
        self.size_combo = QComboBox()
        for long_side, label in SIZES:
            self.size_combo.addItem(label, long_side)
        self.sidecar_check = QCheckBox("Landmarks JSON beside the output")
        self.sidecar_check.setToolTip("Per-frame 68 iBUG points and the 478-point mesh of the result (fes-landmarks format)")
        self.folder_edit = QLineEdit()
        self.folder_edit.setToolTip("Where recordings of the live result are saved")
        folder_button = QToolButton()
        folder_button.setText("…")
        folder_button.clicked.connect(self._browse_folder)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(folder_button)
        for signal in (
            self.format_combo.activated,
            self.fps_spin.editingFinished,
            self.size_combo.activated,
            self.sidecar_check.toggled,
            self.folder_edit.editingFinished,
        ):
            signal.connect(self._emit_settings)

        options = QGroupBox("Output")
        form = QFormLayout(options)
        form.addRow("Format", self.format_combo)
        form.addRow("Frame rate", self.fps_spin)
        form.addRow("Size", self.size_combo)
        form.addRow("", self.sidecar_check)
        form.addRow("Recordings", folder_row)

        record_button = QToolButton()
        record_button.setDefaultAction(record_action)
        record_button.setObjectName("recordButton")
        self.record_status = QLabel("Records the live result (Ctrl+R)")
        self.record_status.setWordWrap(True)
        record_box = QGroupBox("Record live")
        record_layout = QHBoxLayout(record_box)
        record_layout.addWidget(record_button)
        record_layout.addWidget(self.record_status, 1)

        self.driving_label = QLabel(DRIVING_CLIP.name)
        driving_button = QToolButton()
        driving_button.setText("…")
        driving_button.setToolTip("Choose the driving video")
        driving_button.clicked.connect(self._browse_driving)
        driving_row = QHBoxLayout()
        driving_row.addWidget(self.driving_label, 1)
        driving_row.addWidget(driving_button)
        self.export_button = QPushButton("Render video…")
        self.export_button.setObjectName("offlineExport")
        self.export_button.setToolTip("Render every frame of the driving video onto the target (Ctrl+E)")
        self.export_button.clicked.connect(self.ask_offline_export)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_export)
        self.progress = QProgressBar()
        self.progress.setObjectName("exportProgress")
        self.export_status = QLabel()
        self.export_status.setWordWrap(True)
        self.export_status.setObjectName("exportStatus")
        buttons = QHBoxLayout()
        buttons.addWidget(self.export_button)
        buttons.addWidget(self.cancel_button)
        offline_box = QGroupBox("Render offline")
        offline_form = QFormLayout(offline_box)
        offline_form.addRow("Driving video", driving_row)
        offline_form.addRow(buttons)
        offline_form.addRow(self.progress)
        offline_form.addRow(self.export_status)
        self._export: ExportRun | None = None
        self.last_summary: ExportSummary | None = None
        self.set_running(False)

        # Compact margins: the bottom dock is short (it shares the window with the view), and the
        # panel must fit it without a scroll bar, recording or not.
        form.setVerticalSpacing(4)
        columns = QHBoxLayout(self)
        columns.setContentsMargins(4, 4, 4, 4)
        columns.addWidget(options, 1)
        right = QVBoxLayout()
        right.addWidget(record_box)
        right.addWidget(offline_box)
        right.addStretch(1)
        columns.addLayout(right, 1)

    # ---- settings ----

    def apply(self, settings: ExportSettings) -> None:
        self._settings = settings
        self.format_combo.setCurrentIndex(max(0, self.format_combo.findData(settings.format)))
        self.fps_spin.setValue(settings.fps)
        index = self.size_combo.findData(settings.long_side)
        if index < 0:
            self.size_combo.addItem(f"{settings.long_side} px", settings.long_side)
            index = self.size_combo.count() - 1
        self.size_combo.setCurrentIndex(index)
        self.sidecar_check.blockSignals(True)
        self.sidecar_check.setChecked(settings.sidecar)
        self.sidecar_check.blockSignals(False)
        self.folder_edit.setText(settings.folder or str(default_export_folder()))

    def current(self) -> ExportSettings:
        folder = self.folder_edit.text().strip()
        return replace(
            self._settings,
            format=self.format_combo.currentData(),
            fps=self.fps_spin.value(),
            long_side=self.size_combo.currentData(),
            sidecar=self.sidecar_check.isChecked(),
            folder="" if folder == str(default_export_folder()) else folder,
        )

    def _emit_settings(self) -> None:
        self._settings = self.current()
        self.settings_changed.emit(self._settings)

    def set_driving(self, path: Path) -> None:
        self._driving = path
        self.driving_label.setText(path.name)
        self.driving_label.setToolTip(str(path))

    @property
    def driving(self) -> Path:
        return self._driving

    # ---- offline export ----

    def ask_offline_export(self) -> None:
        fmt = self.format_combo.currentData()
        folder = Path(self.folder_edit.text().strip() or default_export_folder())
        suggested = folder / f"{self._driving.stem}-fes{SUFFIXES[fmt]}"
        if fmt == "png":
            path, _ = QFileDialog.getSaveFileName(self, "Name the new folder of PNG frames", str(suggested), "Folders (*)")
            if path and Path(path).is_dir() and any(Path(path).iterdir()):
                answer = QMessageBox.question(self, "Replace the folder?", f"{path} is not empty. Replace its contents when the export finishes?")
                if answer != QMessageBox.StandardButton.Yes:
                    return
        else:
            filters = {"mp4": "MP4 video (*.mp4)", "gif": "Animated GIF (*.gif)"}[fmt]
            path, _ = QFileDialog.getSaveFileName(self, "Export the rendered video", str(suggested), filters)
            if path and not path.lower().endswith(SUFFIXES[fmt]):
                path += SUFFIXES[fmt]
        if path:
            self.offline_requested.emit(self._driving, Path(path))

    @property
    def running(self) -> bool:
        return self._export is not None

    def run_export(self, job: ExportJob) -> None:
        if self._export is not None:
            return
        self._export = ExportRun(job, self)
        worker = self._export.worker
        worker.progress.connect(self._on_progress)
        worker.finished.connect(self._on_finished)
        worker.failed.connect(self._on_failed)
        worker.cancelled.connect(self._on_cancelled)
        self.set_running(True)

    def cancel_export(self) -> None:
        """Ask the export to stop; its writer is aborted, nothing is left on disk."""
        if self._export is not None:
            self._export.cancel()

    def wait_for_export(self) -> None:
        """Cancel and wait for a running export (the window is closing)."""
        if self._export is not None:
            self._export.cancel()
            self._export.wait()
            self._export = None

    def set_running(self, running: bool) -> None:
        self.export_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.progress.setVisible(running or self.progress.value() > 0)
        if running:
            self.progress.setRange(0, 0)
            self.export_status.setText("Rendering…")

    @Slot(int, int)
    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.export_status.setText(f"Frame {done} of {total}")

    def _end(self, text: str) -> None:
        if self._export is not None:
            self._export.wait()
            self._export = None
        self.set_running(False)
        self.export_status.setText(text)

    @Slot(object)
    def _on_finished(self, summary: ExportSummary) -> None:
        text = f"Exported {summary.frames} frames to {summary.path} in {summary.seconds:.1f} s"
        if summary.no_face_frames:
            text += f" ({summary.no_face_frames} without a face repeat the previous frame)"
        if summary.note:
            text += f". Note: {summary.note}"
        self.last_summary = summary
        self._end(text)
        self.export_finished.emit(summary)

    @Slot(object)
    def _on_failed(self, message: UserMessage) -> None:
        self._end(f"Export failed: {message.text}")
        self.export_failed.emit(message)

    @Slot()
    def _on_cancelled(self) -> None:
        self._end("Export cancelled; nothing was written.")

    def _browse_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder for recordings", self.folder_edit.text())
        if folder:
            self.folder_edit.setText(os.path.normpath(folder))
            self._emit_settings()

    def _browse_driving(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose the driving video", str(self._driving.parent), VIDEO_FILTER)
        if path:
            self.set_driving(Path(path))
