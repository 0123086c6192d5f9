"""The live worker: :class:`engine.pipeline.LivePipeline` driven from a QThread.

The worker QObject lives in its own QThread, where it builds the :class:`engine.api.Reenactor`
(model loading, target detection), opens the source and starts or stops the pipeline. The
pipeline's own three threads capture, track and render, keeping only the newest frame between
stages; the render thread turns each result into QImages and leaves it in a newest-wins
:class:`~fes_desktop.mailbox.Mailbox`, signalling ``frame_ready`` only when the mailbox was
empty, so the UI thread is never flooded and always paints the newest frame.

Parameters that need no rebuild (mirror, gains, smoothing, head follows) arrive as a frozen
:class:`LiveParams` and are swapped in between frames; the gains go into the reenactor as a new
frozen ``ReenactConfig``.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace

import cv2
import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal, Slot

from engine.api import NeutralCheck, ReenactConfig, Reenactor, TrackResult, check_neutral
from engine.errors import BackendError, FesError, ModelError, NoFaceError, OutputError
from engine.face.ibug68 import mesh_to_ibug68
from engine.io import FrameSource
from engine.pipeline import LivePipeline, PipelineOptions, PipelineResult
from engine.pipeline.virtualcam import VirtualCameraOptions
from engine.synthesis.photo_generators import WARP, WarpGenerator
from engine.types import Face
from fes_desktop.errors import Context, UserMessage, describe_error
from fes_desktop.mailbox import Mailbox
from fes_desktop.params import LiveParams
from fes_desktop.qimage import PaneSizes, bgr_to_qimage_fitted
from fes_desktop.sources import SourceSpec, open_frame_source
from fes_desktop.workers.live_types import LiveConfig, LiveFrame, LiveStats, Ready, RecordingState
from fes_desktop.workers.neutral_score import NeutralScore
from fes_desktop.workers.recording import FrameRecorder, OutputSpec
from fes_desktop.workers.virtual_output import FPS as VIRTUAL_FPS
from fes_desktop.workers.virtual_output import VirtualOutput
from fes_desktop.workers.threads import join_thread, quit_current_thread, start_thread

log = logging.getLogger(__name__)

STATS_INTERVAL_MS = 500


class _Clock:
    """Maps source time stamps onto one strictly increasing time line (the video-mode tracker
    needs one), across loops, pauses and source switches."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._last: float | None = None

    def __call__(self, timestamp_ms: float) -> float:
        t = timestamp_ms + self._offset
        if self._last is not None and t <= self._last:
            self._offset += self._last - t + 1.0
            t = self._last + 1.0
        self._last = t
        return t


class LiveWorker(QObject):
    """Lives in the live QThread; see the module docstring. Use through :class:`LiveClient`."""

    frame_ready = Signal()
    stats_ready = Signal(object)  # LiveStats
    status_changed = Signal(object)  # engine.pipeline.Status
    ready = Signal(object)  # Ready
    failed = Signal(object)  # UserMessage
    model_failed = Signal(object)  # UserMessage; the warp is used instead
    neutral_captured = Signal(object)  # NeutralScore
    neutral_refused = Signal(object)  # engine.api.NeutralCheck: not used unless confirmed
    neutral_cleared = Signal()
    recording_changed = Signal(object)  # RecordingState
    virtual_camera_changed = Signal(object)  # the device name, or None when off

    def __init__(self) -> None:
        super().__init__()
        self.frames: Mailbox[LiveFrame] = Mailbox()
        self._config: LiveConfig | None = None
        self._key: tuple[object, ...] | None = None
        self._params = LiveParams()
        self._reenactor: Reenactor | None = None
        self._pipeline: LivePipeline[TrackResult] | None = None
        self._pending_source: FrameSource | None = None
        self._stats_timer: QTimer | None = None
        self._warp = WarpGenerator()
        self._clock = _Clock()
        self._neutral_face: Face | None = None
        self._neutral_source: SourceSpec | None = None
        self._refused_face: Face | None = None
        # Written by the pipeline's threads, read by the worker thread (single attribute swaps).
        self._latest_source: np.ndarray | None = None
        self._latest_face: Face | None = None
        self._last_track: TrackResult | None = None
        self._last_mesh: np.ndarray | None = None
        self._record_lock = threading.Lock()
        self._recorder: FrameRecorder | None = None
        self._virtual = VirtualOutput()
        self._run = 0
        self._replaced_at_start = 0
        self.display: PaneSizes | None = None  # set by the UI thread (one attribute swap)

    # ---- slots (worker thread) ----

    @Slot(object)
    def configure(self, config: LiveConfig) -> None:
        self._stop_pipeline()
        self._config = config
        self._params = config.params
        if self._reenactor is None or config.rebuild_key() != self._key:
            if not self._rebuild(config):
                return
        self._apply_params()
        if config.running:
            self._start_pipeline(config)

    @Slot(object)
    def set_params(self, params: LiveParams) -> None:
        self._params = params
        if self._config is not None:
            self._config = replace(self._config, params=params)
        self._apply_params()

    @Slot()
    def capture_neutral(self) -> None:
        face = self._latest_face
        if self._reenactor is None or face is None or self._pipeline is None:
            error = NoFaceError("no face is being tracked in the live source right now")
            self.failed.emit(describe_error(error, Context.NEUTRAL))
            return
        check = check_neutral(face, self._reenactor.shape_model)
        if not check.ok:
            self._refused_face = face
            self.neutral_refused.emit(check)
            return
        self._use_neutral(face, check)

    @Slot()
    def confirm_neutral(self) -> None:
        """Use the face the last capture refused, as the user confirmed it."""
        face, self._refused_face = self._refused_face, None
        if face is not None and self._reenactor is not None:
            self._use_neutral(face, check_neutral(face, self._reenactor.shape_model))

    def _use_neutral(self, face: Face, check: NeutralCheck) -> None:
        assert self._reenactor is not None
        self._reenactor.set_neutral(face)
        self._refused_face = None
        self._neutral_face = face
        self._neutral_source = self._config.source if self._config else None
        self.neutral_captured.emit(NeutralScore(check.neutral, check.frontal))

    @Slot()
    def clear_neutral(self) -> None:
        """Drop the captured neutral; the reference is estimated from the next frames again."""
        if self._reenactor is not None:
            self._reenactor.clear_neutral()
        self._neutral_face = None
        self._neutral_source = None
        self.neutral_cleared.emit()

    @Slot(object)
    def start_recording(self, spec: OutputSpec) -> None:
        if self._reenactor is None or self._pipeline is None:
            self.failed.emit(UserMessage("Nothing to record", "The live view is not running.", "Switch to Live mode first.", Context.RECORD))
            self.recording_changed.emit(RecordingState(False))
            return
        height, width = self._reenactor.config.target_image.shape[:2]
        try:
            recorder = FrameRecorder(spec, (width, height))
        except (OutputError, ValueError) as error:
            self.failed.emit(describe_error(error, Context.RECORD))
            self.recording_changed.emit(RecordingState(False))
            return
        with self._record_lock:
            self._recorder = recorder
        log.info("recording to %s", spec.path)
        self.recording_changed.emit(RecordingState(True, spec.path))

    @Slot()
    def stop_recording(self) -> None:
        with self._record_lock:
            recorder, self._recorder = self._recorder, None
        if recorder is None:
            return
        try:
            recorder.close()
        except OutputError as error:
            self.failed.emit(describe_error(error, Context.RECORD))
            self.recording_changed.emit(RecordingState(False))
            return
        log.info("recorded %d frames to %s", recorder.frames_written, recorder.spec.path)
        self.recording_changed.emit(RecordingState(False, recorder.spec.path, recorder.frames_written))

    @Slot()
    def start_virtual_camera(self) -> None:
        """Send the live results to a virtual camera of the target photo's size (at most 1280 px)."""
        if self._reenactor is None:
            self.failed.emit(UserMessage("No virtual camera", "The live view is not running.", "Switch to Live mode first.", Context.VIRTUAL_CAMERA))
            self.virtual_camera_changed.emit(None)
            return
        height, width = self._reenactor.config.target_image.shape[:2]
        try:
            device = self._virtual.open(VirtualCameraOptions.fitting(width, height, VIRTUAL_FPS))
        except OutputError as error:
            self.failed.emit(describe_error(error, Context.VIRTUAL_CAMERA))
            self.virtual_camera_changed.emit(None)
            return
        log.info("virtual camera on: %s", device)
        self.virtual_camera_changed.emit(device)

    @Slot()
    def stop_virtual_camera(self) -> None:
        self._virtual.close()
        self.virtual_camera_changed.emit(None)

    @Slot()
    def shutdown(self) -> None:
        self._virtual.close()
        self._stop_pipeline()
        if self._reenactor is not None:
            self._reenactor.close()
            self._reenactor = None
        quit_current_thread()

    # ---- building ----

    def _rebuild(self, config: LiveConfig) -> bool:
        if self._reenactor is not None:
            self._reenactor.close()
            self._reenactor = None
        self._key = None
        reenact = ReenactConfig(
            target_image=config.target.image,
            model=config.model,
            backend=config.backend,
            face_index=config.target.face_index,
            gains=config.params.gains,
            smoothing=config.params.smoothing,
            follow_pose=config.params.follow_pose,
        )
        try:
            try:
                reenactor = Reenactor.create(reenact)
            except (ModelError, BackendError) as error:
                if config.model == WARP:
                    raise
                log.warning("model %s failed to load (%s); using the warp", config.model, error)
                self.model_failed.emit(describe_error(error, Context.MODEL))
                reenactor = Reenactor.create(replace(reenact, model=WARP))
        except FesError as error:
            self.failed.emit(describe_error(error, Context.TARGET))
            return False
        self._reenactor = reenactor
        self._key = config.rebuild_key()
        if self._neutral_face is not None and self._neutral_source == config.source:
            reenactor.set_neutral(self._neutral_face)
        else:
            self._neutral_face = None
        generator = reenactor.generator
        self.ready.emit(Ready(generator.description, generator.name, generator.backend_label))
        return True

    def _apply_params(self) -> None:
        reenactor = self._reenactor
        if reenactor is None:
            return
        if reenactor.config.gains != self._params.gains:
            reenactor.config = replace(reenactor.config, gains=self._params.gains)
        if reenactor.config.smoothing != self._params.smoothing:
            reenactor.set_smoothing(self._params.smoothing)
        if reenactor.config.follow_pose != self._params.follow_pose:
            reenactor.set_follow_pose(self._params.follow_pose)

    def _start_pipeline(self, config: LiveConfig) -> None:
        assert self._reenactor is not None
        try:
            self._pending_source = open_frame_source(config.source)
        except FesError as error:
            context = Context.CAMERA if config.source.kind == "camera" else Context.SOURCE
            self.failed.emit(describe_error(error, context))
            return
        reenactor = self._reenactor
        self._run += 1
        self._replaced_at_start = self.frames.replaced
        self._last_track = None
        self._latest_source = None
        self._latest_face = None
        self._last_mesh = reenactor.target_face.mesh
        self.frames.clear()
        fallback = self._render_warp if reenactor.generator.name != WARP else None
        self._pipeline = LivePipeline.create(
            self._open_source,
            self._track,
            self._render,
            PipelineOptions(),
            fallback_render=fallback,
            on_result=self._on_result,
            on_status=self.status_changed.emit,
            initial_image=reenactor.config.target_image,
        )
        self._pipeline.start()
        if self._stats_timer is None:
            self._stats_timer = QTimer(self)
            self._stats_timer.setInterval(STATS_INTERVAL_MS)
            self._stats_timer.timeout.connect(self._emit_stats)
        self._stats_timer.start()
        log.info("live: %s -> %s", config.source.label, reenactor.generator.description)

    def _stop_pipeline(self) -> None:
        if self._pipeline is None:
            return
        self.stop_recording()
        self._pipeline.stop()
        self._emit_stats()
        self._pipeline = None
        if self._stats_timer is not None:
            self._stats_timer.stop()
        if self._pending_source is not None:
            self._pending_source.close()
            self._pending_source = None

    @Slot()
    def _emit_stats(self) -> None:
        if self._pipeline is not None:
            dropped = self.frames.replaced - self._replaced_at_start
            source = self._config.source if self._config else None
            self.stats_ready.emit(LiveStats(self._pipeline.stats(), dropped, self._run, source))

    # ---- pipeline callbacks (pipeline threads) ----

    def _open_source(self) -> FrameSource:
        """The source opened by configure on the first call; a fresh one after a failure."""
        source, self._pending_source = self._pending_source, None
        if source is not None:
            return source
        assert self._config is not None
        return open_frame_source(self._config.source)

    def _track(self, image: np.ndarray, timestamp_ms: float) -> TrackResult | None:
        assert self._reenactor is not None
        if self._params.mirror:
            image = cv2.flip(image, 1)
        self._latest_source = image
        track = self._reenactor.track(image, self._clock(timestamp_ms))
        self._latest_face = track.face if track is not None else None
        return track

    def _render(self, track: TrackResult) -> np.ndarray:
        assert self._reenactor is not None
        mesh = self._reenactor.driven_mesh(track)
        image = self._reenactor.render(track, mesh)
        self._last_mesh = mesh
        self._last_track = track
        return image

    def _render_warp(self, track: TrackResult) -> np.ndarray:
        reenactor = self._reenactor
        assert reenactor is not None
        mesh = reenactor.driven_mesh(track)
        image = self._warp.render(reenactor.request(track, mesh))
        self._last_mesh = mesh
        self._last_track = track
        return image

    def _on_result(self, result: PipelineResult) -> None:
        if result.image is None:
            return
        mesh = self._last_mesh
        self._record(result, mesh)
        self._send_virtual(result.image)
        track = self._last_track
        expression = None
        if result.held or track is None:
            source, source_points = self._latest_source, None
        else:
            source, source_points = track.image, track.face.landmarks68
            if self._reenactor is not None:
                expression = self._reenactor.recognise(track)
        panes = self.display
        result_image, result_scale = bgr_to_qimage_fitted(result.image, None if panes is None else panes.result)
        source_image, source_scale = (None, 1.0) if source is None else bgr_to_qimage_fitted(source, None if panes is None else panes.source)
        frame = LiveFrame(
            image=result.image,
            result=result_image,
            source=source_image,
            result_points=None if mesh is None else mesh_to_ibug68(mesh) * result_scale,
            source_points=None if source_points is None else source_points * source_scale,
            index=result.frame_index,
            held=result.held,
            fallback=result.fallback,
            latency_ms=result.latency_ms,
            expression=expression,
        )
        if not self.frames.put(frame):
            self.frame_ready.emit()

    def _send_virtual(self, image: np.ndarray) -> None:
        try:
            self._virtual.send(image)
        except OutputError as error:
            self.failed.emit(describe_error(error, Context.VIRTUAL_CAMERA))
            self.virtual_camera_changed.emit(None)

    def _record(self, result: PipelineResult, mesh: np.ndarray | None) -> None:
        with self._record_lock:
            recorder = self._recorder
            if recorder is None:
                return
            try:
                recorder.write_timed(result.image, mesh, result.timestamp_ms)
            except OutputError as error:
                self._recorder = None
                self.failed.emit(describe_error(error, Context.RECORD))
                self.recording_changed.emit(RecordingState(False))


class LiveClient(QObject):
    """The UI thread's handle on the live worker: each method posts a request to its thread."""

    _configure = Signal(object)
    _set_params = Signal(object)
    _capture_neutral = Signal()
    _confirm_neutral = Signal()
    _clear_neutral = Signal()
    _start_recording = Signal(object)
    _stop_recording = Signal()
    _start_virtual_camera = Signal()
    _stop_virtual_camera = Signal()
    _shutdown = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.worker = LiveWorker()
        self._configure.connect(self.worker.configure)
        self._set_params.connect(self.worker.set_params)
        self._capture_neutral.connect(self.worker.capture_neutral)
        self._confirm_neutral.connect(self.worker.confirm_neutral)
        self._clear_neutral.connect(self.worker.clear_neutral)
        self._start_recording.connect(self.worker.start_recording)
        self._stop_recording.connect(self.worker.stop_recording)
        self._start_virtual_camera.connect(self.worker.start_virtual_camera)
        self._stop_virtual_camera.connect(self.worker.stop_virtual_camera)
        self._shutdown.connect(self.worker.shutdown)
        self.thread = start_thread(self.worker, "fes-live")
        self._closed = False

    def configure(self, config: LiveConfig) -> None:
        self._configure.emit(config)

    def set_params(self, params: LiveParams) -> None:
        self._set_params.emit(params)

    def capture_neutral(self) -> None:
        self._capture_neutral.emit()

    def confirm_neutral(self) -> None:
        self._confirm_neutral.emit()

    def clear_neutral(self) -> None:
        self._clear_neutral.emit()

    def start_recording(self, spec: OutputSpec) -> None:
        self._start_recording.emit(spec)

    def stop_recording(self) -> None:
        self._stop_recording.emit()

    def set_virtual_camera(self, on: bool) -> None:
        (self._start_virtual_camera if on else self._stop_virtual_camera).emit()

    def close(self) -> None:
        """Stop the pipeline (finishing a recording), release the model, end the thread."""
        if self._closed:
            return
        self._closed = True
        self._shutdown.emit()
        join_thread(self.thread)
