"""Live mode: the configuration sent to the live worker, and its frames, statistics, states and
failures routed to the view, the panels and the status line; the virtual-camera toggle."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Slot

from engine.errors import CameraError
from engine.pipeline import State, Status
from fes_desktop.errors import Context, UserMessage, describe_error
from fes_desktop.heap import freeze_startup_heap
from fes_desktop.params import LiveParams, smoothing_params
from fes_desktop.qimage import PaneSizes
from fes_desktop.sources import SourceSpec
from fes_desktop.workers.live_types import LiveConfig, LiveFrame, LiveStats, LiveTarget, Ready
from fes_desktop.workers.live_worker import LiveClient

if TYPE_CHECKING:
    from fes_desktop.main_window import MainWindow

NOTABLE_STATES = (State.NO_FACE, State.CAMERA_RETRYING, State.FALLBACK, State.RENDER_ERROR)


class LiveController(QObject):
    """What live mode shows and counts.

    frames_shown: live results painted since the window opened; last_frame: the newest;
    driver_expression: what the driver's face reads as ("" before the first reading);
    stats: the newest statistics of the current source; dropped: frames dropped while live with
    the current source, summed over its runs (a mode switch starts a new run; a new source resets
    the count); virtual_camera: the device the results go to, None when off.
    """

    def __init__(self, window: MainWindow, client: LiveClient) -> None:
        super().__init__(window)
        self._window = window
        self.client = client
        self.frames_shown = 0
        self.last_frame: LiveFrame | None = None
        self.driver_expression = ""
        self.stats: LiveStats | None = None
        self.state = Status(State.IDLE)
        self.dropped = 0
        self.virtual_camera: str | None = None
        self._dropped_before = 0  # in the current source's finished runs
        worker = client.worker
        worker.frame_ready.connect(self._on_frame_ready)
        worker.stats_ready.connect(self._on_stats)
        worker.status_changed.connect(self._on_status)
        worker.ready.connect(self._on_ready)
        worker.failed.connect(self._on_failed)
        worker.model_failed.connect(window.on_model_failed)
        worker.virtual_camera_changed.connect(self._on_virtual_camera)
        window.view.pane_size_changed.connect(self._on_pane_size)
        worker.display = window.view.pane_size()
        window.commands.virtual_camera.toggled.connect(self.set_virtual_camera)

    # ---- configuration ----

    def params(self) -> LiveParams:
        s = self._window.settings
        return LiveParams(s.source.mirror, s.expression.gains, smoothing_params(s.expression.smoothing), s.expression.follow_pose)

    def push_config(self) -> None:
        """Send source, target, model, backend and parameters (a rebuild where they changed)."""
        w = self._window
        if w.target is None:
            return
        target = w.target
        self.client.configure(
            LiveConfig(
                source=w.source,
                target=LiveTarget(target.serial, target.path, target.image, target.chosen),
                model=w.settings.model.model,
                backend=w.settings.model.backend,
                params=self.params(),
                running=w.mode == "live",
            )
        )

    def push_params(self) -> None:
        """Mirror, gains, smoothing and head follow, applied between frames."""
        self.client.set_params(self.params())

    def source_changed(self) -> None:
        """A new source: its expression and dropped count start afresh."""
        self.driver_expression = ""
        self.stats = None
        self.dropped = 0
        self._dropped_before = 0

    @Slot(bool)
    def set_virtual_camera(self, on: bool) -> None:
        self.client.set_virtual_camera(on)

    # ---- from the worker ----

    @Slot(object)
    def _on_pane_size(self, size: PaneSizes) -> None:
        self.client.worker.display = size

    @Slot()
    def _on_frame_ready(self) -> None:
        w = self._window
        frame = self.client.worker.frames.take()
        if frame is None or w.mode != "live":
            return
        w.view.set_frames(frame.source, frame.result, frame.source_points, frame.result_points)
        self.last_frame = frame
        if frame.expression is not None:
            e = frame.expression
            reading = "neutral" if e.label == "neutral" else f"{e.label} {e.intensity:.0%}"
            if reading != self.driver_expression:
                self.driver_expression = reading
                w.update_captions()
        if not frame.held:
            self.frames_shown += 1
            if self.frames_shown == 1:
                freeze_startup_heap()

    @Slot(object)
    def _on_stats(self, stats: LiveStats) -> None:
        if stats.source != self._window.source:
            return  # the last sample of a source already left
        previous = self.stats
        if previous is not None and stats.run != previous.run:
            self._dropped_before += previous.dropped
            self._window.performance_panel.break_line()
        self.stats = stats
        self.dropped = self._dropped_before + stats.dropped
        self._window.performance_panel.add_stats(stats, self.dropped)
        if stats.pipeline.frames_output:
            self._window.model_panel.show_speed(stats.pipeline.fps, self._window.model_info.title)
        self._window.update_status_line()

    @Slot(object)
    def _on_status(self, status: Status) -> None:
        w = self._window
        self.state = status
        if status.state == State.CAMERA_FAILED:
            self._camera_failed(status.message)
        elif status.state in (State.FALLBACK, State.RENDER_ERROR):
            w.notice.show_notice(status.message, "warning" if status.state == State.FALLBACK else "error")
        w.update_status_line()

    def _camera_failed(self, text: str) -> None:
        w = self._window
        if w.source.kind != "camera":
            w.errors.show(UserMessage("The source stopped", text, "Choose another source in the Source panel.", Context.SOURCE))
            return
        w.errors.show(describe_error(CameraError(text), Context.CAMERA))
        w.notice.show_notice(f"{w.source.label} failed: using the bundled driving clip.", "warning")
        w.choose_source(SourceSpec.clip())

    @Slot(object)
    def _on_ready(self, ready: Ready) -> None:
        self._window.on_live_ready(ready)

    @Slot(object)
    def _on_failed(self, message: UserMessage) -> None:
        w = self._window
        w.errors.show(message)
        if message.context == Context.CAMERA and w.source.kind == "camera":
            w.notice.show_notice(f"{w.source.label} is not available: using the bundled driving clip.", "warning")
            w.choose_source(SourceSpec.clip())
        elif message.context == Context.SOURCE and not w.source.is_clip:
            w.choose_source(SourceSpec.clip())

    @Slot(object)
    def _on_virtual_camera(self, device: str | None) -> None:
        self.virtual_camera = device
        action = self._window.commands.virtual_camera
        action.blockSignals(True)
        action.setChecked(device is not None)
        action.blockSignals(False)
        if device is not None:
            self._window.statusBar().showMessage(f"Virtual camera on: {device}", 8000)
        self._window.update_status_line()

    # ---- the status line ----

    def status_parts(self) -> list[str]:
        """The live status line's parts after "● LIVE": rate, latency, drops, notable state."""
        parts = []
        stats = self.stats
        if stats is not None:
            p = stats.pipeline
            parts.append(f"{p.fps:5.1f} fps")
            parts.append(f"latency {p.latency_p50_ms:.0f} ms (p95 {p.latency_p95_ms:.0f})")
            parts.append(f"dropped {self.dropped}")
        if self.state.state in NOTABLE_STATES:
            parts.append(self.state.message)
        if self.virtual_camera is not None:
            parts.append("VIRTUAL CAMERA")
        return parts
