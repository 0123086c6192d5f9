"""Keyframed animation of the target photo (engine.animate), rendered to a file with progress and
cancel: the app's side of ``fes animate``.

Every frame is written with its landmarks (the sidecar of the Export panel's options); cancelling
or any failure aborts the writer, so no partial file is left.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject

from engine.animate import Keyframe, animate, frame_times
from engine.api import Engine, EngineConfig
from fes_desktop.workers.export_worker import ExportSummary
from fes_desktop.workers.recording import FrameRecorder, OutputSpec
from fes_desktop.workers.job_worker import JobWorker
from fes_desktop.workers.threads import OneShotRun

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class AnimationJob:
    """photo: (H, W, 3) uint8 BGR, the target; keys: at least two, in time order; the output's
    frame rate is ``output.fps``."""

    photo: np.ndarray
    face_index: int | None
    model: str
    backend: str
    keys: tuple[Keyframe, ...]
    output: OutputSpec


class AnimationWorker(JobWorker):
    """Runs one AnimationJob in its own thread (see :class:`~fes_desktop.workers.job_worker.JobWorker`);
    ``progress`` counts frames done against the keys' frame count."""

    what = "animation"

    def work(self) -> ExportSummary:
        job = self.job
        t0 = time.perf_counter()
        keys = list(job.keys)
        total = len(frame_times(keys, job.output.fps))
        height, width = job.photo.shape[:2]
        with Engine.create(EngineConfig(model=job.model, backend=job.backend)) as engine:
            detection = engine.detect(job.photo, job.face_index)
            recorder = FrameRecorder(job.output, (width, height))
            try:
                done = 0
                for frame in animate(engine, job.photo, keys, job.output.fps, detection=detection):
                    self.check_cancel()
                    recorder.write(frame.image, frame.mesh)
                    done += 1
                    self.progress.emit(done, total)
            except BaseException:
                recorder.abort()
                raise
            recorder.close()
        seconds = time.perf_counter() - t0
        log.info("animated %d frames to %s in %.1f s", done, job.output.path, seconds)
        return ExportSummary(job.output.path, done, 0, seconds)


class AnimationRun(OneShotRun):
    """The UI thread's handle on one running animation, in a thread of its own that ends with it."""

    def __init__(self, job: AnimationJob, parent: QObject | None = None) -> None:
        super().__init__(AnimationWorker(job), "fes-animate", parent)
