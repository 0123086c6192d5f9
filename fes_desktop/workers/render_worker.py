"""The photo worker: target detection and expression / landmark edits of the target photo.

Edit requests go into a newest-wins :class:`~fes_desktop.mailbox.Mailbox`; the worker thread is
woken by a queued signal and always renders the newest request, so while a landmark is dragged
the requests that pile up during one render are dropped, never queued, and the UI never waits.
A ``draft`` request (while dragging) renders once; a final one runs the engine's closed-loop
refinement as well.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtGui import QImage

from engine.api import Engine, EngineConfig
from engine.errors import BackendError, FesError, ModelError
from engine.face.ibug68 import mesh_to_ibug68
from engine.io import LandmarkEdit, read_image
from engine.synthesis.photo_generators import WARP, RenderRequest
from engine.types import Face
from fes_desktop.capabilities import ModelInfo
from fes_desktop.errors import Context, describe_error
from fes_desktop.mailbox import Mailbox
from fes_desktop.qimage import bgr_to_qimage
from fes_desktop.workers.threads import join_thread, quit_current_thread, start_thread

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TargetRequest:
    """Load ``path`` and pick face ``face_index`` (largest first)."""

    serial: int
    path: Path
    face_index: int = 0


@dataclass(frozen=True, eq=False)
class TargetInfo:
    """A loaded target: image (H, W, 3) uint8 BGR; faces largest first; chosen: the face edited."""

    serial: int
    path: Path
    image: np.ndarray
    qimage: QImage
    faces: tuple[Face, ...]
    chosen: int
    notes: tuple[str, ...]

    @property
    def face(self) -> Face:
        return self.faces[self.chosen]

    @property
    def size(self) -> tuple[int, int]:
        return (int(self.image.shape[1]), int(self.image.shape[0]))


@dataclass(frozen=True, eq=False)
class EditRequest:
    """label: "" for the photo's own expression; offsets: (68, 2) hand edits in target pixels on
    top of the label's points; source_path: the driving photo of an image-driven model."""

    serial: int
    target_serial: int
    label: str
    intensity: float
    offsets: np.ndarray
    draft: bool
    source_path: Path | None = None


@dataclass(frozen=True, eq=False)
class EditResult:
    """image: the edited photo; base68: the label's points (what the offsets add to);
    mesh: the (478, 2) target geometry asked for; ms: render time."""

    serial: int
    target_serial: int
    image: np.ndarray
    qimage: QImage
    base68: np.ndarray
    mesh: np.ndarray
    draft: bool
    ms: float


@dataclass(frozen=True)
class ModelReady:
    """backend: what runs it, e.g. ``onnxruntime-fp32`` ("" for the warp)."""

    info: ModelInfo
    description: str
    backend: str = ""


class RenderWorker(QObject):
    """Lives in the photo QThread; use through :class:`RenderClient`."""

    target_ready = Signal(object)  # TargetInfo
    target_failed = Signal(object)  # UserMessage
    model_ready = Signal(object)  # ModelReady
    model_failed = Signal(object)  # UserMessage; the warp is used instead
    edit_ready = Signal(object)  # EditResult
    edit_failed = Signal(object)  # UserMessage
    _wake = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.requests: Mailbox[EditRequest] = Mailbox()
        self._engine: Engine | None = None
        self._target: TargetInfo | None = None
        self._sources: dict[Path, tuple[np.ndarray, Face]] = {}
        self._wake.connect(self._process)

    def submit(self, request: EditRequest) -> None:
        """Thread-safe: queue ``request``, replacing one not yet started."""
        if not self.requests.put(request):
            self._wake.emit()

    @Slot(str, str)
    def set_model(self, model: str, backend: str) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None
        try:
            info = ModelInfo.of(model)
            self._engine = Engine.create(EngineConfig(model=model, backend=backend))
        except (ModelError, BackendError) as error:
            log.warning("model %s failed to load for photo edits (%s); using the warp", model, error)
            self.model_failed.emit(describe_error(error, Context.MODEL))
            info = ModelInfo.of(WARP)
            self._engine = Engine.create(EngineConfig(model=WARP))
        generator = self._engine.generator
        self.model_ready.emit(ModelReady(info, generator.description, generator.backend_label))

    @Slot(object)
    def load_target(self, request: TargetRequest) -> None:
        engine = self._require_engine()
        try:
            image = read_image(request.path)
            detection = engine.detect(image)
        except FesError as error:
            self.target_failed.emit(describe_error(error, Context.TARGET))
            return
        chosen = min(request.face_index, len(detection.faces) - 1)
        notes = detection.notes
        if len(detection.faces) > 1:
            notes = (*notes, f"{len(detection.faces)} faces found; editing face {chosen + 1}")
        self._target = TargetInfo(request.serial, request.path, image, bgr_to_qimage(image), detection.faces, chosen, notes)
        self.target_ready.emit(self._target)

    @Slot()
    def shutdown(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None
        quit_current_thread()

    def _require_engine(self) -> Engine:
        if self._engine is None:
            self._engine = Engine.create(EngineConfig())
        return self._engine

    @Slot()
    def _process(self) -> None:
        request = self.requests.take()
        target = self._target
        if request is None or target is None or request.target_serial != target.serial:
            return
        t0 = time.perf_counter()
        try:
            result = self._render(self._require_engine(), target, request)
        except FesError as error:
            self.edit_failed.emit(describe_error(error, Context.EDIT))
            return
        image, base68, mesh = result
        ms = (time.perf_counter() - t0) * 1000.0
        self.edit_ready.emit(EditResult(request.serial, target.serial, image, bgr_to_qimage(image), base68, mesh, request.draft, ms))

    def _render(self, engine: Engine, target: TargetInfo, request: EditRequest) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        face = target.face
        base = engine.expression_mesh(face, request.label, request.intensity) if request.label else face.mesh
        base68 = mesh_to_ibug68(base)
        moved = np.flatnonzero(np.abs(request.offsets).max(axis=1) > 1e-3)
        if len(moved):
            anchor = replace(face, mesh=base, landmarks68=base68)
            wanted = base68[moved] + request.offsets[moved]
            edits = [LandmarkEdit(int(i), float(x), float(y)) for i, (x, y) in zip(moved, wanted)]
            mesh = engine.landmark_mesh(anchor, edits)
        else:
            mesh = base
        if not request.label and not len(moved):
            return target.image, base68, mesh
        source_image, source_face = self._source(engine, request.source_path)
        render = RenderRequest(
            target.image,
            face,
            mesh,
            label=request.label or "neutral",
            intensity=request.intensity if request.label else 0.0,
            source_image=source_image,
            source_face=source_face,
        )
        image = engine.render(render, refine=0 if request.draft else None)
        return image, base68, mesh

    def _source(self, engine: Engine, path: Path | None) -> tuple[np.ndarray | None, Face | None]:
        if path is None:
            return None, None
        if path not in self._sources:
            image = read_image(path)
            self._sources[path] = (image, engine.detect(image).face)
        return self._sources[path]


class RenderClient(QObject):
    """The UI thread's handle on the photo worker."""

    _set_model = Signal(str, str)
    _load_target = Signal(object)
    _shutdown = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.worker = RenderWorker()
        self._set_model.connect(self.worker.set_model)
        self._load_target.connect(self.worker.load_target)
        self._shutdown.connect(self.worker.shutdown)
        self.thread = start_thread(self.worker, "fes-photo")
        self._closed = False

    def set_model(self, model: str, backend: str) -> None:
        self._set_model.emit(model, backend)

    def load_target(self, request: TargetRequest) -> None:
        self._load_target.emit(request)

    def submit(self, request: EditRequest) -> None:
        self.worker.submit(request)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._shutdown.emit()
        join_thread(self.thread)
