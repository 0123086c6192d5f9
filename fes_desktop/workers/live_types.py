"""What the live worker and the window exchange: configuration in, frames and statistics out (no
threads here)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtGui import QImage

from engine.pipeline import PipelineStats
from engine.recognise import Recognition
from fes_desktop.params import LiveParams
from fes_desktop.sources import SourceSpec


@dataclass(frozen=True, eq=False)
class LiveTarget:
    """The identity photo: (H, W, 3) uint8 BGR; ``serial`` changes whenever the target does."""

    serial: int
    path: Path
    image: np.ndarray
    face_index: int | None


@dataclass(frozen=True, eq=False)
class LiveConfig:
    """Everything the live run depends on. A change of source, target, model or backend rebuilds
    the reenactor; ``params`` (mirror, gains, smoothing, follow_pose) is applied in place;
    ``running`` starts or pauses the pipeline."""

    source: SourceSpec
    target: LiveTarget
    model: str
    backend: str
    params: LiveParams
    running: bool = True

    def rebuild_key(self) -> tuple[object, ...]:
        return (self.source, self.target.serial, self.model, self.backend)


@dataclass(frozen=True, eq=False)
class LiveFrame:
    """One output for the view. result/source: the frames as QImages scaled to the view's pane
    (source None before the first frame); *_points: (68, 2) landmarks in the pixels of those
    QImages, None when unknown; held: no new result (no face); fallback: made by the warp after
    the model failed; image: the full-size result, (H, W, 3) uint8 BGR, read-only; expression:
    the driver's, recognised against the neutral reference (None when held)."""

    image: np.ndarray
    result: QImage
    source: QImage | None
    result_points: np.ndarray | None
    source_points: np.ndarray | None
    index: int
    held: bool
    fallback: bool
    latency_ms: float
    expression: Recognition | None = None


@dataclass(frozen=True)
class LiveStats:
    """One statistics sample of a pipeline run. run: which run of the worker (a new one starts at
    every source, target, model or mode change); source: what drove it; display_dropped: results
    replaced before the UI took them, in this run."""

    pipeline: PipelineStats
    display_dropped: int
    run: int = 0
    source: SourceSpec | None = None

    @property
    def dropped(self) -> int:
        """Frames dropped anywhere in this run: before tracking, rendering or display."""
        return self.pipeline.dropped_total + self.display_dropped


@dataclass(frozen=True)
class RecordingState:
    active: bool
    path: Path | None = None
    frames: int = 0


@dataclass(frozen=True)
class Ready:
    """The reenactor is built: ``description`` says what renders; ``backend`` what runs it
    (e.g. ``onnxruntime-fp32``; "" for the warp)."""

    description: str
    model: str
    backend: str = ""
