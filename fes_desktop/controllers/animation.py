"""The Timeline panel's renders: keyframed expressions of the target photo to a file, in a thread
of their own with progress and cancel (the app's ``fes animate``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QFileDialog

from engine.animate import Keyframe
from fes_desktop.errors import UserMessage
from fes_desktop.panels.export_panel import default_export_folder
from fes_desktop.workers.animation_worker import AnimationJob, AnimationRun
from fes_desktop.workers.export_worker import ExportSummary
from fes_desktop.workers.recording import OutputSpec

if TYPE_CHECKING:
    from fes_desktop.main_window import MainWindow

FILTERS = {"mp4": "MP4 video (*.mp4)", "gif": "Animated GIF (*.gif)"}


class AnimationController(QObject):
    """``last``: the newest finished render's summary (None before one)."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = window
        self._run: AnimationRun | None = None
        self.last: ExportSummary | None = None
        panel = window.timeline_panel
        panel.render_requested.connect(self.ask_output)
        panel.cancel_button.clicked.connect(self.cancel)

    @property
    def running(self) -> bool:
        return self._run is not None

    @Slot(object, float)
    def ask_output(self, keys: tuple[Keyframe, ...], fps: float) -> None:
        """Ask where to write (the Export panel's format), then render."""
        w = self._window
        fmt = w.export_panel.current().format
        start = default_export_folder() / f"fes-animation.{fmt}" if fmt in FILTERS else default_export_folder()
        if fmt in FILTERS:
            path, _ = QFileDialog.getSaveFileName(w, "Save the animation", str(start), FILTERS[fmt])
        else:
            path = QFileDialog.getExistingDirectory(w, "Folder for the PNG frames", str(start))
        if path:
            self.render(keys, fps, Path(path))

    def render(self, keys: tuple[Keyframe, ...], fps: float, output: Path) -> None:
        """Render ``keys`` at ``fps`` into ``output`` (.mp4, .gif, else a folder of PNG frames)
        with the window's model and the Export panel's size and sidecar options."""
        w = self._window
        if self._run is not None or w.target is None:
            return
        export = w.export_panel.current()
        suffix = output.suffix.lower().lstrip(".")
        fmt = suffix if suffix in FILTERS else "png"
        spec = OutputSpec(output, fmt, fps, export.long_side, export.sidecar, overwrite=fmt == "png" and output.is_dir())
        job = AnimationJob(w.target.image, w.target.chosen, w.settings.model.model, w.settings.model.backend, keys, spec)
        self._run = AnimationRun(job, self)
        worker = self._run.worker
        worker.progress.connect(w.timeline_panel.set_progress)
        worker.finished.connect(self._on_finished)
        worker.failed.connect(self._on_failed)
        worker.cancelled.connect(self._on_cancelled)
        w.timeline_panel.set_running(True)
        w.docks["timeline"].raise_()

    @Slot()
    def cancel(self) -> None:
        if self._run is not None:
            self._run.cancel()

    def wait(self) -> None:
        """Cancel and wait for a running render (the window is closing)."""
        if self._run is not None:
            self._run.cancel()
            self._run.wait()
            self._run = None

    def _end(self) -> None:
        if self._run is not None:
            self._run.wait()
            self._run = None

    @Slot(object)
    def _on_finished(self, summary: ExportSummary) -> None:
        self._end()
        self.last = summary
        self._window.timeline_panel.finished(summary.path, summary.frames)
        self._window.statusBar().showMessage(f"Animated {summary.frames} frames to {summary.path}", 8000)

    @Slot(object)
    def _on_failed(self, message: UserMessage) -> None:
        self._end()
        self._window.timeline_panel.set_running(False)
        self._window.timeline_panel.status.setText(f"Not rendered: {message.text}")
        self._window.errors.show(message)

    @Slot()
    def _on_cancelled(self) -> None:
        self._end()
        self._window.timeline_panel.set_running(False)
        self._window.timeline_panel.status.setText("Cancelled; nothing was written.")
