"""Offline export: a driving video rendered frame by frame onto the target, with progress and cancel.

Every frame of the video is processed (nothing is dropped, unlike the live view). A frame
without a face repeats the last good output (the target photo before the first face), so the
output has exactly as many frames as the video; such frames have no entry in the landmarks
sidecar. Cancelling or any failure aborts the writer: no partial file is left.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QObject

from engine.api import ReenactConfig, Reenactor
from engine.face.smoothing import OneEuroParams
from engine.geometry.retarget import RegionGains
from engine.io import VideoSource
from fes_desktop.workers.recording import FrameRecorder, OutputSpec
from fes_desktop.workers.job_worker import JobWorker
from fes_desktop.workers.threads import OneShotRun

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class ExportJob:
    """driving: the video whose face drives the target; target_image: (H, W, 3) uint8 BGR."""

    driving: Path
    target_image: np.ndarray
    face_index: int | None
    model: str
    backend: str
    gains: RegionGains
    smoothing: OneEuroParams | None
    mirror: bool
    output: OutputSpec
    follow_pose: bool = True


@dataclass(frozen=True)
class ExportSummary:
    path: Path
    frames: int
    no_face_frames: int
    seconds: float
    note: str = ""


class ExportWorker(JobWorker):
    """Runs one ExportJob in its own thread (see :class:`~fes_desktop.workers.job_worker.JobWorker`);
    ``progress`` counts frames done against the video's (estimated) frame count."""

    what = "export"

    def work(self) -> ExportSummary:
        job = self.job
        t0 = time.perf_counter()
        config = ReenactConfig(
            job.target_image, job.model, job.backend, job.face_index, job.gains, job.smoothing, follow_pose=job.follow_pose
        )
        with Reenactor.create(config) as reenactor, VideoSource(job.driving) as source:
            height, width = job.target_image.shape[:2]
            recorder = FrameRecorder(job.output, (width, height))
            try:
                done, no_face = self._frames(reenactor, source, recorder)
            except BaseException:
                recorder.abort()
                raise
            recorder.close()
            note = (source.truncation_message or "") if source.truncated else ""
        seconds = time.perf_counter() - t0
        log.info("exported %d frames to %s in %.1f s", done, job.output.path, seconds)
        return ExportSummary(job.output.path, done, no_face, seconds, note)

    def _frames(self, reenactor: Reenactor, source: VideoSource, recorder: FrameRecorder) -> tuple[int, int]:
        expected = source.frame_count or 0
        image: np.ndarray = self.job.target_image
        mesh: np.ndarray | None = reenactor.target_face.mesh
        done = no_face = 0
        for frame in source:
            self.check_cancel()
            driving = cv2.flip(frame.image, 1) if self.job.mirror else frame.image
            track = reenactor.track(driving, frame.timestamp_ms)
            if track is None:
                no_face += 1
            else:
                mesh = reenactor.driven_mesh(track)
                image = reenactor.render(track, mesh)
            recorder.write(image, mesh)
            done += 1
            self.progress.emit(done, max(expected, done))
        self.check_cancel()
        return done, no_face


class ExportRun(OneShotRun):
    """The UI thread's handle on one running export, in a thread of its own that ends with it."""

    def __init__(self, job: ExportJob, parent: QObject | None = None) -> None:
        super().__init__(ExportWorker(job), "fes-export", parent)
