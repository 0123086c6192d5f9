"""Building a model's TensorRT engine ahead of use, with progress and cancel.

TensorRT builds once per model, GPU, TensorRT version and precision (minutes for a large
model) and caches the result; the Model panel offers this only where the TensorRT backend is
available. Progress comes from TensorRT's build monitor; returning False from it cancels.
"""

from __future__ import annotations

import logging
import threading

from PySide6.QtCore import QObject, Signal, Slot

from engine.backends import available_backends, get_backend
from engine.errors import FesError
from engine.manifest import load_manifest
from engine.synthesis.photo_generators import model_folder
from fes_desktop.errors import Context, describe_error
from fes_desktop.workers.threads import OneShotRun, quit_current_thread

log = logging.getLogger(__name__)

TENSORRT = "tensorrt"


def tensorrt_available() -> bool:
    return TENSORRT in available_backends()


def tensorrt_precision() -> str:
    """fp16 where the GPU runs it fast, else fp32."""
    precisions = get_backend(TENSORRT).precisions()
    return "fp16" if "fp16" in precisions else "fp32"


class BuildWorker(QObject):
    progress = Signal(str, int, int)  # phase, steps done, steps in the phase
    finished = Signal(str)  # the backend spec that now loads at once, e.g. "tensorrt-fp16"
    failed = Signal(object)  # UserMessage
    cancelled = Signal()

    def __init__(self, model: str) -> None:
        super().__init__()
        self.model = model
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    def _on_progress(self, phase: str, done: int, total: int) -> bool:
        self.progress.emit(phase, done, total)
        return not self._cancel.is_set()

    @Slot()
    def run(self) -> None:
        try:
            precision = tensorrt_precision()
            folder = model_folder(self.model)
            backend = get_backend(TENSORRT).load(load_manifest(folder), folder, precision, progress=self._on_progress)
            backend.close()
        except FesError as error:
            if self._cancel.is_set():
                log.info("TensorRT build of %s cancelled", self.model)
                self.cancelled.emit()
            else:
                self.failed.emit(describe_error(error, Context.BUILD))
        else:
            self.finished.emit(f"{TENSORRT}-{precision}")
        finally:
            quit_current_thread()


class BuildRun(OneShotRun):
    """The UI thread's handle on one build, in a thread of its own that ends with it."""

    def __init__(self, model: str, parent: QObject | None = None) -> None:
        super().__init__(BuildWorker(model), "fes-trt-build", parent)
