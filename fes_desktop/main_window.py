"""The main window: the central view, the dockable panels, and the wiring to the workers.

Two modes share the view. Live: the source drives the target through the live worker; the view
shows source and result. Edit photo: labels and landmark drags edit the target photo through the
photo worker; the view shows the target and the edited result, and the live pipeline pauses.
The window holds the app's state as a frozen :class:`~fes_desktop.settings.Settings`, replaced
on every change and saved (with the window and dock layout) on close.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
from PySide6.QtCore import QByteArray, QSize, Qt, QTimer, Slot
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QGuiApplication, QShowEvent
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QFrame,
    QLabel,
    QMainWindow,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from engine.errors import OutputError
from engine.geometry.retarget import RegionGains
from engine.io import write_image
from engine.synthesis.photo_generators import WARP
from fes_desktop.actions import Actions, build_menus, create_actions, show_about, show_shortcuts
from fes_desktop.cameras import CameraInfo, CameraLister, qt_cameras, watch_cameras
from fes_desktop.capabilities import ModelInfo
from fes_desktop.controllers.animation import AnimationController
from fes_desktop.controllers.edit import EditController
from fes_desktop.controllers.export import ExportController
from fes_desktop.controllers.live import LiveController
from fes_desktop.controllers.neutral import NeutralController
from fes_desktop.dialogs import ErrorDialogs
from fes_desktop.errors import Context, UserMessage, describe_error
from fes_desktop.log_bridge import LogBridge
from fes_desktop.panels.expression_panel import ExpressionPanel
from fes_desktop.panels.export_panel import ExportPanel, default_export_folder
from fes_desktop.panels.landmark_panel import LandmarkPanel
from fes_desktop.panels.model_panel import ModelPanel
from fes_desktop.panels.performance_panel import PerformancePanel
from fes_desktop.panels.source_panel import VIDEO_FILTER, SourcePanel
from fes_desktop.panels.target_panel import TargetPanel, dropped_photo
from fes_desktop.panels.timeline_panel import TimelinePanel
from fes_desktop.settings import (
    EditorSettings,
    ExportSettings,
    ModelSettings,
    Settings,
    SettingsStore,
    TargetSettings,
    WindowSettings,
    save_quietly,
)
from fes_desktop.sources import DEFAULT_TARGET, SourceSpec
from fes_desktop.widgets.frame_view import FrameView
from fes_desktop.widgets.notice_bar import NoticeBar
from fes_desktop.workers.live_types import Ready
from fes_desktop.workers.live_worker import LiveClient
from fes_desktop.workers.render_worker import ModelReady, RenderClient, TargetInfo, TargetRequest

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v"})
DEFAULT_SIZE = (1440, 900)


class MainWindow(QMainWindow):
    """Args:
        settings: what to start with.
        store: where settings are saved on close (None: nothing is saved, e.g. screenshots).
        camera_lister: lists the cameras (default: QtMultimedia); inject ``lambda: []`` to run
            as on a machine without cameras.
        notice: a message to show at start (e.g. settings that were reset).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        store: SettingsStore | None = None,
        camera_lister: CameraLister = qt_cameras,
        notice: str | None = None,
    ) -> None:
        super().__init__()
        self.setObjectName("mainWindow")
        self.setWindowTitle("FES Desktop")
        self.setAcceptDrops(True)
        self.settings = settings
        self._store = store
        self._camera_lister = camera_lister
        self.target: TargetInfo | None = None
        self.model_info = ModelInfo.of(WARP)
        self._target_serial = 0
        self._running_description = ""
        self._editor_hidden_for_model = False
        self._closed = False

        self.commands: Actions = create_actions(self)  # not "actions": QWidget.actions() exists
        self.edits = EditController(self)
        self.errors = ErrorDialogs(self)
        self._build_central()
        self._build_panels()
        self._build_menus_and_toolbar()
        self.resize(_initial_size())
        self._default_state = self.saveState()  # docks in their areas and tabs; sized on first show
        self._needs_sizing = not self._restore_window()
        self._apply_settings()

        self.log_bridge = LogBridge(self)
        self.log_bridge.warning.connect(self._on_engine_warning)
        self.photo = RenderClient(self)
        self.live = LiveClient(self)
        self.live_view = LiveController(self, self.live)
        self._connect_workers()

        cameras = self._list_cameras()
        self._camera_watch = watch_cameras(self, self.refresh_cameras) if camera_lister is qt_cameras else None
        self._source = self._resolve_source(cameras)
        self.source_panel.set_source(self._source)
        if notice:
            self.notice.show_notice(notice, "warning")
        self.photo.set_model(settings.model.model, settings.model.backend)
        self.choose_target(Path(settings.target.path) if settings.target.path else DEFAULT_TARGET, settings.target.face_index)
        self.set_mode(settings.view.mode)

    @classmethod
    def from_store(cls, store: SettingsStore, camera_lister: CameraLister = qt_cameras) -> MainWindow:
        """The window with the stored settings; a problem with them shows as a notice."""
        loaded = store.load()
        return cls(loaded.settings, store=store, camera_lister=camera_lister, notice=loaded.message)

    # ------------------------------------------------------------------ construction

    def _build_central(self) -> None:
        self.view = FrameView()
        self.notice = NoticeBar()
        self.status_line = QLabel("Starting…")
        self.status_line.setObjectName("statusLine")
        self.status_line.setStyleSheet("padding: 2px 6px; font-family: monospace;")
        self.status_line.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(4, 4, 4, 0)
        layout.setSpacing(4)
        layout.addWidget(self.notice)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.status_line)
        self.setCentralWidget(central)

    def _dock(self, widget: QWidget, title: str, name: str, area: Qt.DockWidgetArea, scroll: bool = True) -> QDockWidget:
        """A dock holding ``widget``; form panels sit in a scroll area so that small screens can
        shrink them, panels that fill any space (canvas, plots) do not need one."""
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        if scroll:
            area_widget = QScrollArea()
            area_widget.setWidget(widget)
            area_widget.setWidgetResizable(True)
            area_widget.setFrameShape(QFrame.Shape.NoFrame)
            dock.setWidget(area_widget)
        else:
            dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_panels(self) -> None:
        left, right, bottom = Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea, Qt.DockWidgetArea.BottomDockWidgetArea
        self.source_panel = SourcePanel()
        self.target_panel = TargetPanel()
        self.model_panel = ModelPanel()
        self.expression_panel = ExpressionPanel()
        self.landmark_panel = LandmarkPanel()
        self.export_panel = ExportPanel(self.commands.record)
        self.performance_panel = PerformancePanel()
        self.timeline_panel = TimelinePanel()
        self.docks = {
            "source": self._dock(self.source_panel, "Source", "sourceDock", left),
            "target": self._dock(self.target_panel, "Target", "targetDock", left),
            "model": self._dock(self.model_panel, "Model", "modelDock", left),
            "landmarks": self._dock(self.landmark_panel, "Landmark editor", "landmarkDock", right, scroll=False),
            "expression": self._dock(self.expression_panel, "Expression", "expressionDock", right),
            "performance": self._dock(self.performance_panel, "Performance", "performanceDock", bottom, scroll=False),
            "export": self._dock(self.export_panel, "Export", "exportDock", bottom),
            "timeline": self._dock(self.timeline_panel, "Timeline", "timelineDock", bottom, scroll=False),
        }
        self.tabifyDockWidget(self.docks["target"], self.docks["model"])
        self.docks["target"].raise_()
        self.tabifyDockWidget(self.docks["performance"], self.docks["export"])
        self.tabifyDockWidget(self.docks["export"], self.docks["timeline"])
        self.docks["performance"].raise_()
        self.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)

        self.source_panel.source_chosen.connect(self.choose_source)
        self.source_panel.mirror_changed.connect(self.set_mirror)
        self.source_panel.refresh_cameras_requested.connect(self.refresh_cameras)
        self.target_panel.target_chosen.connect(self.choose_target)
        self.target_panel.face_chosen.connect(self.choose_face)
        self.model_panel.model_chosen.connect(self.choose_model)
        self.model_panel.backend_chosen.connect(self.choose_backend)
        self.model_panel.engine_built.connect(self.choose_backend)
        self.model_panel.build_failed.connect(self._on_build_failed)
        self.expression_panel.expression_changed.connect(self.edits.on_expression)
        self.expression_panel.gains_changed.connect(self._on_gains)
        self.expression_panel.smoothing_changed.connect(self._on_smoothing)
        self.expression_panel.follow_pose_changed.connect(self._on_follow_pose)
        self.expression_panel.driving_photo_chosen.connect(self.edits.on_driving_photo)
        self.landmark_panel.document.subscribe(self.edits.on_document_change)
        self.landmark_panel.mirror_changed.connect(self._on_editor_mirror)
        self.export_panel.settings_changed.connect(self._on_export_settings)
        self.export_panel.export_failed.connect(self.errors.show)

    def _build_menus_and_toolbar(self) -> None:
        a = self.commands
        a.open_target.triggered.connect(self.target_panel.browse)
        a.open_driving.triggered.connect(self._browse_driving_video)
        a.save_result.triggered.connect(self.save_result_image)
        a.export_video.triggered.connect(self.export_panel.ask_offline_export)
        a.quit.triggered.connect(self.close)
        a.live_mode.triggered.connect(lambda: self.set_mode("live"))
        a.edit_mode.triggered.connect(lambda: self.set_mode("edit"))
        a.mirror.toggled.connect(self.set_mirror)
        a.overlay.toggled.connect(self.set_overlay)
        a.result_only.toggled.connect(lambda on: self.set_layout("result" if on else "side_by_side"))
        a.reset_layout.triggered.connect(self.reset_layout)
        a.shortcuts.triggered.connect(lambda: show_shortcuts(self, a))
        a.about.triggered.connect(lambda: show_about(self))

        build_menus(
            self,
            a,
            undo=self.landmark_panel.undo_action,
            redo=self.landmark_panel.redo_action,
            reset_landmarks=self.landmark_panel.reset,
            docks=list(self.docks.values()),
        )

    def _connect_workers(self) -> None:
        self.neutral = NeutralController(self, self.live, self.source_panel, lambda: self.mode == "live")
        self.source_panel.capture_neutral_requested.connect(self.neutral.capture)
        self.commands.capture_neutral.triggered.connect(self.neutral.capture)
        self.commands.clear_neutral.triggered.connect(self.neutral.clear)
        self.exports = ExportController(self)
        self.animations = AnimationController(self)
        photo = self.photo.worker
        photo.target_ready.connect(self._on_target_ready)
        photo.target_failed.connect(self._on_target_failed)
        photo.model_ready.connect(self._on_model_ready)
        photo.model_failed.connect(self.on_model_failed)
        photo.edit_ready.connect(self.edits.on_ready)
        photo.edit_failed.connect(self.edits.on_failed)

    def _restore_window(self) -> bool:
        """The saved geometry and dock layout; False when there is none (or it does not apply)."""
        window = self.settings.window
        if window.geometry:
            self.restoreGeometry(QByteArray(base64.b64decode(window.geometry)))
        return bool(window.state) and self.restoreState(QByteArray(base64.b64decode(window.state)))

    def _size_docks(self) -> None:
        """The default panel sizes; they only take once the window is laid out (first show)."""
        self.resizeDocks([self.docks["performance"]], [240], Qt.Orientation.Vertical)
        self.resizeDocks([self.docks["source"], self.docks["target"]], [330, 450], Qt.Orientation.Vertical)
        self.resizeDocks([self.docks["landmarks"], self.docks["expression"]], [480, 420], Qt.Orientation.Vertical)
        self.resizeDocks([self.docks["source"], self.docks["landmarks"]], [300, 400], Qt.Orientation.Horizontal)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._needs_sizing:
            self._needs_sizing = False
            QTimer.singleShot(0, self._size_docks)  # after the window manager's first layout

    @Slot()
    def reset_layout(self) -> None:
        self.restoreState(self._default_state)
        for dock in self.docks.values():
            dock.setFloating(False)
            dock.show()
        self._size_docks()

    def _apply_settings(self) -> None:
        s = self.settings
        self.expression_panel.apply(s.expression)
        self.export_panel.apply(s.export)
        self.model_panel.set_model(s.model.model)
        self.model_panel.set_backend(s.model.backend)
        self.source_panel.set_mirror(s.source.mirror)
        self.landmark_panel.set_mirror(s.editor.mirror)
        for action, on in ((self.commands.mirror, s.source.mirror), (self.commands.overlay, s.view.overlay), (self.commands.result_only, s.view.layout == "result")):
            action.blockSignals(True)
            action.setChecked(on)
            action.blockSignals(False)
        self.view.set_overlay(s.view.overlay)
        self.view.set_layout(s.view.layout)

    # ------------------------------------------------------------------ sources and cameras

    def _list_cameras(self) -> list[CameraInfo]:
        cameras = self._camera_lister()
        log.info("cameras: %s", ", ".join(c.name for c in cameras) or "none found")
        self.source_panel.set_cameras(cameras)
        return cameras

    def _resolve_source(self, cameras: list[CameraInfo]) -> SourceSpec:
        """The source the settings ask for, or the bundled clip when it is not there (with a notice)."""
        s = self.settings.source
        if s.kind in ("video", "photo") and s.path:
            if Path(s.path).is_file():
                return SourceSpec(s.kind, Path(s.path))
            self.notice.show_notice(f"The driving {s.kind} {s.path} is gone: using the bundled driving clip.", "info")
            return SourceSpec.clip()
        if s.kind == "clip":
            return SourceSpec.clip()
        if s.kind == "camera":
            camera = next((c for c in cameras if c.name == s.camera), None)
            if camera is None:
                self.notice.show_notice(f"The camera \"{s.camera}\" is not connected: using the bundled driving clip.", "info")
                return SourceSpec.clip()
            return SourceSpec("camera", camera_index=camera.index, camera_name=camera.name, size=s.resolution, fps=s.fps)
        if cameras:
            camera = next((c for c in cameras if c.is_default), cameras[0])
            return SourceSpec("camera", camera_index=camera.index, camera_name=camera.name)
        self.statusBar().showMessage("No camera found: the bundled driving clip drives the live view.", 8000)
        return SourceSpec.clip()

    @property
    def source(self) -> SourceSpec:
        return self._source

    @Slot()
    def refresh_cameras(self) -> None:
        cameras = self._list_cameras()
        self.source_panel.set_source(self._source)
        self.statusBar().showMessage(f"{len(cameras)} camera(s) found", 4000)

    @Slot(object)
    def choose_source(self, spec: SourceSpec) -> None:
        self._source = spec
        self.live_view.source_changed()
        kind = "clip" if spec.is_clip else spec.kind
        self.settings = replace(
            self.settings,
            source=replace(
                self.settings.source,
                kind=kind,
                camera=spec.camera_name if spec.kind == "camera" else self.settings.source.camera,
                resolution=spec.size,
                fps=spec.fps,
                path=str(spec.path) if spec.path and not spec.is_clip else "",
            ),
        )
        self.source_panel.set_source(spec)
        self.source_panel.clear_neutral()
        if spec.kind == "video":
            self.export_panel.set_driving(spec.path)
        self.live_view.push_config()
        self.update_captions()

    def _browse_driving_video(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a driving video", "", VIDEO_FILTER)
        if path:
            self.choose_source(SourceSpec("video", Path(path)))

    # ------------------------------------------------------------------ target

    @Slot(object)
    def choose_target(self, path: Path, face_index: int = 0) -> None:
        self._target_serial += 1
        self.photo.load_target(TargetRequest(self._target_serial, Path(path), face_index))
        self.statusBar().showMessage(f"Loading {Path(path).name}…", 3000)

    @Slot(int)
    def choose_face(self, index: int) -> None:
        if self.target is not None:
            self.choose_target(self.target.path, index)

    @Slot(object)
    def _on_target_ready(self, info: TargetInfo) -> None:
        if info.serial != self._target_serial:
            return
        self.target = info
        self.edits.reset()
        path = "" if info.path == DEFAULT_TARGET else str(info.path)
        self.settings = replace(self.settings, target=TargetSettings(path, info.chosen))
        self.setWindowTitle(f"FES Desktop — {info.path.name}")
        faces = len(info.faces)
        self.statusBar().showMessage(f"{info.path.name}: {faces} face{'s' if faces != 1 else ''} found", 4000)
        self.target_panel.set_target(info)
        self.landmark_panel.new_target(info.face.landmarks68)
        self.landmark_panel.set_image(info.qimage)
        self.live_view.push_config()
        if self.settings.expression.label:
            self.edits.submit(draft=False)
        self.edits.show_view()
        self.update_captions()

    @Slot(object)
    def _on_target_failed(self, message: UserMessage) -> None:
        self.errors.show(message)
        if self.target is None and self.settings.target.path:
            self.notice.show_notice(f"{message.text} — the bundled sample photo is used instead.", "warning")
            self.choose_target(DEFAULT_TARGET)

    # ------------------------------------------------------------------ model

    @Slot(str)
    def choose_model(self, name: str) -> None:
        self.settings = replace(self.settings, model=replace(self.settings.model, model=name))
        self.model_panel.set_model(name)
        self.photo.set_model(name, self.settings.model.backend)
        self.live_view.push_config()

    @Slot(str)
    def choose_backend(self, spec: str) -> None:
        self.settings = replace(self.settings, model=replace(self.settings.model, backend=spec))
        self.photo.set_model(self.settings.model.model, spec)
        self.live_view.push_config()

    @Slot(object)
    def _on_model_ready(self, ready: ModelReady) -> None:
        info = ready.info
        self.model_info = info
        self.model_panel.show_info(info, self._running_description or ready.description)
        self.expression_panel.set_capabilities(info.labels, info.source_image)
        landmark_dock = self.docks["landmarks"]
        landmark_dock.toggleViewAction().setEnabled(info.landmarks)
        if not info.landmarks and not landmark_dock.isHidden():
            landmark_dock.hide()  # a label-only model: its output ignores the landmarks
            self._editor_hidden_for_model = True
        elif info.landmarks and self._editor_hidden_for_model:
            landmark_dock.show()
            self._editor_hidden_for_model = False
        if self.target is not None and (self.settings.expression.label or len(self.landmark_panel.document.moved)):
            self.edits.submit(draft=False)
        self.update_captions()

    @Slot(object)
    def on_model_failed(self, message: UserMessage) -> None:
        if self.settings.model.model == WARP:
            return
        self.errors.show(message)
        self.notice.show_notice(f"{message.text} — fell back to the classical warp.", "warning")
        self.settings = replace(self.settings, model=ModelSettings(WARP, self.settings.model.backend))
        self.model_panel.set_model(WARP)

    @Slot(str)
    def _on_engine_warning(self, text: str) -> None:
        self.notice.show_notice(f"Backend fallback: {text}", "warning")

    @Slot(object)
    def _on_build_failed(self, message: UserMessage) -> None:
        self.errors.show(message)
        self.notice.show_notice(f"TensorRT build failed ({message.text}); the model runs on ONNX Runtime.", "warning")

    # ------------------------------------------------------------------ modes and live

    @property
    def mode(self) -> str:
        return self.settings.view.mode

    def set_mode(self, mode: str) -> None:
        """"live" or "edit"."""
        changed = mode != self.mode
        self.settings = replace(self.settings, view=replace(self.settings.view, mode=mode))
        for action, name in ((self.commands.live_mode, "live"), (self.commands.edit_mode, "edit")):
            action.setChecked(name == mode)
        self.commands.capture_neutral.setEnabled(mode == "live")
        self.commands.clear_neutral.setEnabled(mode == "live")
        if changed:
            self.live_view.push_config()
        if mode == "edit":
            self.edits.show_view()  # the live pipeline pauses, which also ends a recording
        else:
            self.view.set_placeholder("Starting the live view…")
        self.update_captions()

    def on_live_ready(self, ready: Ready) -> None:
        """The live reenactor is built: say what renders."""
        self._running_description = ready.description
        self.model_panel.running_label.setText(ready.description)
        self.model_panel.show_backend(ready.backend)
        self.update_captions()

    @Slot(bool)
    def set_mirror(self, on: bool) -> None:
        self.settings = replace(self.settings, source=replace(self.settings.source, mirror=on))
        self.source_panel.set_mirror(on)
        self.commands.mirror.blockSignals(True)
        self.commands.mirror.setChecked(on)
        self.commands.mirror.blockSignals(False)
        self.live_view.push_params()

    @Slot(bool)
    def _on_editor_mirror(self, on: bool) -> None:
        self.settings = replace(self.settings, editor=EditorSettings(mirror=on))

    @Slot(bool)
    def set_overlay(self, on: bool) -> None:
        self.settings = replace(self.settings, view=replace(self.settings.view, overlay=on))
        self.view.set_overlay(on)

    def set_layout(self, layout: str) -> None:
        self.settings = replace(self.settings, view=replace(self.settings.view, layout=layout))
        self.view.set_layout(layout)

    # ------------------------------------------------------------------ recording and export

    @Slot(object)
    def _on_export_settings(self, export: ExportSettings) -> None:
        self.settings = replace(self.settings, export=export)

    def current_result(self) -> np.ndarray | None:
        """The result shown now at full size, (H, W, 3) uint8 BGR: the live frame or the photo edit."""
        if self.mode == "live":
            frame = self.live_view.last_frame
            return None if frame is None else frame.image
        if self.edits.last is not None:
            return self.edits.last.image
        return None if self.target is None else self.target.image

    @Slot()
    def save_result_image(self) -> None:
        if self.current_result() is None:
            return
        start = str(default_export_folder() / "fes-result.png")
        path, _ = QFileDialog.getSaveFileName(self, "Save the result image", start, "PNG (*.png);;JPEG (*.jpg)")
        if path:
            self.write_result_image(Path(path))

    def write_result_image(self, path: Path) -> None:
        image = self.current_result()
        if image is None:
            return
        try:
            write_image(path, image)
        except OutputError as error:
            self.errors.show(describe_error(error, Context.EXPORT))
            return
        self.statusBar().showMessage(f"Saved {path}", 5000)

    # ------------------------------------------------------------------ photo edits

    @Slot(object)
    def _on_gains(self, gains: RegionGains) -> None:
        self.settings = replace(self.settings, expression=replace(self.settings.expression, gains=gains))
        self.live_view.push_params()

    @Slot(float)
    def _on_smoothing(self, strength: float) -> None:
        self.settings = replace(self.settings, expression=replace(self.settings.expression, smoothing=strength))
        self.live_view.push_params()

    @Slot(bool)
    def _on_follow_pose(self, on: bool) -> None:
        self.settings = replace(self.settings, expression=replace(self.settings.expression, follow_pose=on))
        self.live_view.push_params()

    # ------------------------------------------------------------------ captions and status

    def update_captions(self) -> None:
        model = self.model_info.title
        if self.mode == "edit":
            expression = self.settings.expression
            edit = f"{expression.label} {expression.intensity:.0%}" if expression.label else "own expression"
            moved = len(self.landmark_panel.document.moved)
            if moved:
                edit += f", {moved} point{'s' if moved > 1 else ''} moved"
            name = self.target.path.name if self.target else ""
            self.view.set_captions(f"Target — {name}", f"Edited — {edit} — {model}")
        else:
            reading = self.live_view.driver_expression
            reads = f" — reads as {reading}" if reading else ""
            self.view.set_captions(f"{self._source.label}{reads}", f"Result — {model}")
        self.update_status_line()

    def update_status_line(self) -> None:
        if self.mode == "edit":
            result = self.edits.last
            timing = f"render {result.ms:.0f} ms{' (draft)' if result.draft else ''}" if result else "no edit yet"
            self.status_line.setText(f"✎ PHOTO EDIT · {timing} · {self._running_description or self.model_info.title}")
            return
        parts = ["● LIVE", *self.live_view.status_parts()]
        if self.commands.record.isChecked():
            parts.append("REC")
        self.status_line.setText(" · ".join(parts))

    # ------------------------------------------------------------------ drag and drop, closing

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if dropped_photo(event) is not None or _dropped_video(event) is not None:
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        photo = dropped_photo(event)
        if photo is not None:
            event.acceptProposedAction()
            self.choose_target(photo)
            return
        video = _dropped_video(event)
        if video is not None:
            event.acceptProposedAction()
            self.choose_source(SourceSpec("video", video))

    def current_settings(self) -> Settings:
        """The settings with the window geometry and dock layout as they are now."""
        window = WindowSettings(
            geometry=base64.b64encode(bytes(self.saveGeometry().data())).decode("ascii"),
            state=base64.b64encode(bytes(self.saveState().data())).decode("ascii"),
        )
        return replace(self.settings, window=window)

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._closed:
            self._closed = True
            if self._store is not None:
                problem = save_quietly(self._store, self.current_settings())
                if problem:
                    log.warning(problem)
            self.errors.close_all()
            self.export_panel.wait_for_export()
            self.animations.wait()
            self.model_panel.wait_for_build()
            self.live.close()
            self.photo.close()
            self.log_bridge.detach()
        super().closeEvent(event)


def _initial_size() -> QSize:
    """DEFAULT_SIZE, shrunk to fit the screen (offscreen rendering keeps the full size)."""
    size = QSize(*DEFAULT_SIZE)
    screen = QGuiApplication.primaryScreen()
    if screen is None or QGuiApplication.platformName() == "offscreen":
        return size
    return size.boundedTo(screen.availableGeometry().size() * 0.95)


def _dropped_video(event: QDragEnterEvent | QDropEvent) -> Path | None:
    for url in event.mimeData().urls():
        path = Path(url.toLocalFile())
        if path.suffix.lower() in VIDEO_SUFFIXES:
            return path
    return None

