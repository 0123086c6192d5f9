"""What drives the live view: a camera, a video file (looped), a photo, or the bundled clip (no Qt)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import resources
from engine.io import CameraSource, Frame, FrameSource, ImageSource, VideoSource

DRIVING_CLIP = resources.SAMPLES / "driving.mp4"
# A real person's photo: the composites' ghosted hair would show their blending as if it were ours.
DEFAULT_TARGET = resources.SAMPLES / "target_london_007.jpg"
SAMPLE_TARGETS: tuple[Path, ...] = (
    DEFAULT_TARGET,
    resources.SAMPLES / "target_f.jpg",
    resources.SAMPLES / "target_m.jpg",
    resources.SAMPLES / "target_cc0.jpg",
)


@dataclass(frozen=True)
class SourceSpec:
    """kind: "camera", "video" or "photo". camera_index/camera_name/size/fps: for a camera
    (size and fps are requests; None keeps the camera's default). path: for a video or photo."""

    kind: str
    path: Path | None = None
    camera_index: int = 0
    camera_name: str = ""
    size: tuple[int, int] | None = None
    fps: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("camera", "video", "photo"):
            raise ValueError(f"unknown source kind {self.kind!r}")
        if self.kind != "camera" and self.path is None:
            raise ValueError(f"a {self.kind} source needs a path")

    @staticmethod
    def clip() -> SourceSpec:
        return SourceSpec("video", DRIVING_CLIP)

    @property
    def is_clip(self) -> bool:
        return self.kind == "video" and self.path == DRIVING_CLIP

    @property
    def label(self) -> str:
        """For captions: "Camera: Integrated Webcam", "Driving clip (bundled)", "Video: talk.mp4"."""
        if self.kind == "camera":
            return f"Camera: {self.camera_name or self.camera_index}"
        if self.is_clip:
            return "Driving clip (bundled)"
        assert self.path is not None
        return f"{'Video' if self.kind == 'video' else 'Photo'}: {self.path.name}"


class LoopingVideoSource(FrameSource):
    """A video file played over and over (in real time unless told otherwise); time stamps and
    indices keep increasing across loops so a video-mode tracker sees one continuous stream."""

    def __init__(self, path: Path, *, realtime: bool = True) -> None:
        self._path = path
        self._realtime = realtime
        self._video = VideoSource(path, realtime=realtime)
        self.name = str(path)
        self.fps = self._video.fps
        self.size = self._video.size
        self.frame_count = None
        self._time_offset = 0.0
        self._index_offset = 0
        self._last: Frame | None = None

    def read(self) -> Frame | None:
        frame = self._video.read()
        if frame is None:
            if self._last is None:
                return None
            self._video.close()
            self._time_offset = self._last.timestamp_ms + 1000.0 / (self.fps or 25.0)
            self._index_offset = self._last.index + 1
            self._video = VideoSource(self._path, realtime=self._realtime)
            frame = self._video.read()
            if frame is None:
                return None
        out = Frame(frame.image, frame.timestamp_ms + self._time_offset, frame.index + self._index_offset)
        self._last = out
        return out

    def close(self) -> None:
        self._video.close()


def open_frame_source(spec: SourceSpec) -> FrameSource:
    """Open ``spec`` for the live pipeline (files are paced to real time and loop).

    Raises CameraError (camera) or InputError (file) as engine.io does.
    """
    if spec.kind == "camera":
        return CameraSource(spec.camera_index, size=spec.size, fps=spec.fps)
    assert spec.path is not None
    if spec.kind == "photo":
        return ImageSource(spec.path, realtime=True)
    return LoopingVideoSource(spec.path)
