"""Recording the live view and exporting a driving video offline, from the Export panel."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Slot

from engine.errors import OutputError
from fes_desktop.errors import Context, describe_error
from fes_desktop.panels.export_panel import default_export_folder
from fes_desktop.params import smoothing_params
from fes_desktop.workers.export_worker import ExportJob, ExportSummary
from fes_desktop.workers.live_types import RecordingState
from fes_desktop.workers.recording import OutputSpec, timestamped_path

if TYPE_CHECKING:
    from fes_desktop.main_window import MainWindow


class ExportController(QObject):
    """Record toggles live recording into the Export panel's folder and format (switching to live
    mode); ``last`` is the newest RecordingState. Offline export renders a whole driving video onto
    the current target with the window's model, gains, smoothing, mirror and head-follow settings."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = window
        self.last = RecordingState(False)
        window.commands.record.toggled.connect(self.set_recording)
        window.live.worker.recording_changed.connect(self._on_recording)
        window.export_panel.offline_requested.connect(self.start_offline)
        window.export_panel.export_finished.connect(self._on_export_finished)

    @Slot(bool)
    def set_recording(self, on: bool) -> None:
        w = self._window
        if not on:
            w.live.stop_recording()
            return
        export = w.export_panel.current()
        folder = Path(export.folder) if export.folder else default_export_folder()
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            w.errors.show(describe_error(OutputError(f"cannot create {folder}: {error.strerror or error}"), Context.RECORD))
            self._set_record_checked(False)
            return
        if w.mode != "live":
            w.set_mode("live")
        spec = OutputSpec(timestamped_path(folder, export.format), export.format, export.fps, export.long_side, export.sidecar)
        w.live.start_recording(spec)

    def _set_record_checked(self, on: bool) -> None:
        record = self._window.commands.record
        record.blockSignals(True)
        record.setChecked(on)
        record.blockSignals(False)

    @Slot(object)
    def _on_recording(self, state: RecordingState) -> None:
        """Record turns into Stop while recording; the panel names the file (its folder is the
        Recordings option; the full path is in the tooltip and the status bar)."""
        self._set_record_checked(state.active)
        record = self._window.commands.record
        record.setText("&Stop recording" if state.active else "&Record")
        name = state.path.name if state.path is not None else ""
        if state.active:
            text, full = f"● Recording {name}", f"Recording to {state.path}"
        elif state.path is not None:
            text, full = f"Saved {state.frames} frames: {name}", f"Saved {state.frames} frames to {state.path}"
        else:
            text = full = "Not recording"
        status = self._window.export_panel.record_status
        status.setText(text)
        status.setToolTip(full)
        self._window.statusBar().showMessage(full, 8000)
        self._window.update_status_line()
        self.last = state

    @Slot(object, object)
    def start_offline(self, driving: Path, output: Path) -> None:
        """Render every frame of ``driving`` onto the target into ``output`` with the Export
        panel's format, rate, size and sidecar options."""
        w = self._window
        if w.export_panel.running or w.target is None:
            return
        export = w.export_panel.current()
        overwrite = export.format == "png" and output.is_dir()
        settings = w.settings
        job = ExportJob(
            driving=driving,
            target_image=w.target.image,
            face_index=w.target.chosen,
            model=settings.model.model,
            backend=settings.model.backend,
            gains=settings.expression.gains,
            smoothing=smoothing_params(settings.expression.smoothing),
            mirror=settings.source.mirror,
            follow_pose=settings.expression.follow_pose,
            output=OutputSpec(output, export.format, export.fps, export.long_side, export.sidecar, overwrite),
        )
        w.export_panel.run_export(job)
        w.docks["export"].raise_()

    @Slot(object)
    def _on_export_finished(self, summary: ExportSummary) -> None:
        self._window.statusBar().showMessage(f"Exported {summary.frames} frames to {summary.path}", 8000)
