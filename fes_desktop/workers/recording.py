"""Writing result frames to MP4, GIF or a PNG sequence at a chosen size and rate (no Qt).

Everything goes through :func:`engine.io.open_writer`, which writes under a temporary name and
renames on close: an aborted or failed recording leaves no half-written file behind.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from engine.face.ibug68 import mesh_to_ibug68
from engine.io import FrameWriter, open_writer

SUFFIXES = {"mp4": ".mp4", "gif": ".gif", "png": ""}


@dataclass(frozen=True)
class OutputSpec:
    """path: the .mp4 / .gif file or the PNG-sequence folder; fmt: "mp4", "gif" or "png";
    long_side: pixels of the longer output side (0: the frames' own size); sidecar: write the
    landmarks JSON beside the output; overwrite: replace an existing non-empty PNG folder."""

    path: Path
    fmt: str
    fps: float
    long_side: int = 0
    sidecar: bool = True
    overwrite: bool = False

    def __post_init__(self) -> None:
        if self.fmt not in SUFFIXES:
            raise ValueError(f"unknown output format {self.fmt!r}")

    def frame_size(self, image_size: tuple[int, int]) -> tuple[int, int]:
        """(width, height) of the written frames for frames of ``image_size``."""
        width, height = image_size
        if not self.long_side or self.long_side == max(width, height):
            return (width, height)
        scale = self.long_side / max(width, height)
        return (max(1, round(width * scale)), max(1, round(height * scale)))


def timestamped_path(folder: Path, fmt: str, stem: str = "fes-recording") -> Path:
    """``folder/fes-recording-20250101-120000.mp4`` (a counter is added if that exists)."""
    base = f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    path = folder / f"{base}{SUFFIXES[fmt]}"
    counter = 2
    while path.exists():
        path = folder / f"{base}-{counter}{SUFFIXES[fmt]}"
        counter += 1
    return path


class FrameRecorder:
    """Resizes frames (and their landmarks) to the output size and writes them.

    Raises OutputError on opening or writing (the partial output is already removed then).
    """

    def __init__(self, spec: OutputSpec, image_size: tuple[int, int]) -> None:
        self.spec = spec
        self.image_size = image_size
        self.size = spec.frame_size(image_size)
        self._scale = np.array([self.size[0] / image_size[0], self.size[1] / image_size[1]], np.float32)
        target: str | Path = spec.path
        if spec.fmt == "png":
            target = os.fspath(spec.path).rstrip(os.sep) + os.sep
        self.writer: FrameWriter = open_writer(target, spec.fps, self.size, overwrite=spec.overwrite)
        self._first_ms: float | None = None

    @property
    def frames_written(self) -> int:
        return self.writer.frames_written

    def write(self, image: np.ndarray, mesh: np.ndarray | None, repeat: int = 1) -> None:
        """image: (H, W, 3) uint8 BGR of ``image_size``; mesh: its (478, 2) face points or None;
        repeat: how many output frames show it."""
        if image.shape[1::-1] != self.size:
            image = cv2.resize(image, self.size, interpolation=cv2.INTER_AREA)
        landmarks = scaled = None
        if mesh is not None and self.spec.sidecar:
            scaled = np.asarray(mesh, np.float32) * self._scale
            landmarks = mesh_to_ibug68(scaled)
        for _ in range(repeat):
            self.writer.write(image, landmarks=landmarks, mesh=scaled)

    def write_timed(self, image: np.ndarray, mesh: np.ndarray | None, timestamp_ms: float) -> None:
        """Write at the output's constant rate following the frames' time stamps: a frame is
        repeated when frames come slower than ``spec.fps`` and left out when they come faster,
        so the recording plays at the speed it was captured."""
        if self._first_ms is None:
            self._first_ms = timestamp_ms
        due = int((timestamp_ms - self._first_ms) * self.spec.fps / 1000.0) + 1
        if due > self.frames_written:
            self.write(image, mesh, due - self.frames_written)

    def close(self) -> None:
        self.writer.close()

    def abort(self) -> None:
        self.writer.abort()
