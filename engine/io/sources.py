"""Frame sources for the live pipeline and the CLI: a camera, a video file or one photo.

Every source has ``read() -> Frame | None`` (None at the end of a file; a camera never ends),
``close()`` and is a context manager; iterating a source reads until the end.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import cv2
import numpy as np

from engine.errors import CameraError, InputError
from engine.io.images import IMAGE_SUFFIXES, read_image
from engine.io.video import VideoReader

DEFAULT_IMAGE_FPS = 30.0
"""Rate at which a photo source repeats its frame (time stamps, and pacing when realtime)."""

_CAMERA_READ_RETRIES = 5


@dataclass(frozen=True, eq=False)
class Frame:
    """One frame from a source.

    image: (H, W, 3) uint8 BGR, owned by this frame (safe to draw on).
    timestamp_ms: milliseconds, strictly increasing within a source; from 0 at the first frame
        of a file, from the opening of a camera for a camera.
    index: position in the source, from 0.
    """

    image: np.ndarray
    timestamp_ms: float
    index: int


class FrameSource(ABC):
    """A stream of :class:`Frame` objects.

    Attributes:
        name: what the user chose, for messages ("camera 0", a file path).
        fps: the source's frame rate if known (cameras report theirs, which may be 0 -> None).
        size: (width, height) of the frames.
        frame_count: how many frames the source will give if known (for a video it may be an
            estimate from the duration), else None.
        is_live: True for cameras, whose frames arrive in real time and never end.
    """

    name: str
    fps: float | None
    size: tuple[int, int]
    frame_count: int | None = None
    is_live: bool = False

    @abstractmethod
    def read(self) -> Frame | None:
        """The next frame, or None at the end of the stream."""

    @abstractmethod
    def close(self) -> None:
        """Release the file or device. Safe to call twice."""

    def __iter__(self) -> Iterator[Frame]:
        while (frame := self.read()) is not None:
            yield frame

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class _Pacer:
    """Sleeps so that frames are handed out no sooner than their time stamps (realtime mode)."""

    def __init__(self) -> None:
        self._start: float | None = None

    def wait_for(self, timestamp_ms: float) -> None:
        now = time.monotonic()
        if self._start is None:
            self._start = now - timestamp_ms / 1000.0
            return
        delay = self._start + timestamp_ms / 1000.0 - now
        if delay > 0:
            time.sleep(delay)


class VideoSource(FrameSource):
    """Frames of a video file, decoded by :class:`engine.io.video.VideoReader`.

    Args:
        path: the video file.
        realtime: hand frames out at the video's own pace instead of as fast as they decode.

    Attributes:
        truncated: the file turned out cut short or corrupt (reading ended early, see
            ``truncation_message``).

    Raises:
        InputError: the file is missing or not a readable video.
    """

    def __init__(self, path: Path | str, *, realtime: bool = False) -> None:
        self._reader = VideoReader(path)
        self._frames = iter(self._reader)
        self._pacer = _Pacer() if realtime else None
        self.name = str(path)
        self.fps = self._reader.fps
        self.size = self._reader.size
        self.frame_count = self._reader.frame_count or None

    @property
    def truncated(self) -> bool:
        return self._reader.truncated

    @property
    def truncation_message(self) -> str | None:
        return self._reader.truncation_message

    def read(self) -> Frame | None:
        item = next(self._frames, None)
        if item is None:
            return None
        index, timestamp_ms, image = item
        if self._pacer is not None:
            self._pacer.wait_for(timestamp_ms)
        return Frame(image=image, timestamp_ms=timestamp_ms, index=index)

    def close(self) -> None:
        self._reader.close()


class ImageSource(FrameSource):
    """One photo, handed out again and again with advancing time stamps.

    Args:
        path: the photo.
        fps: frames per second the time stamps (and realtime pacing) follow.
        repeat: how many frames to give before the end; None for no end.
        realtime: hand frames out at ``fps`` instead of as fast as asked.

    Raises:
        InputError: the file is missing or not a readable image.
    """

    def __init__(
        self, path: Path | str, *, fps: float = DEFAULT_IMAGE_FPS, repeat: int | None = None, realtime: bool = False
    ) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self._image = read_image(path)
        self._repeat = repeat
        self.frame_count = repeat
        self._index = 0
        self._pacer = _Pacer() if realtime else None
        self.name = str(path)
        self.fps = float(fps)
        self.size = (int(self._image.shape[1]), int(self._image.shape[0]))

    def read(self) -> Frame | None:
        if self._repeat is not None and self._index >= self._repeat:
            return None
        timestamp_ms = self._index * 1000.0 / self.fps
        if self._pacer is not None:
            self._pacer.wait_for(timestamp_ms)
        frame = Frame(image=self._image.copy(), timestamp_ms=timestamp_ms, index=self._index)
        self._index += 1
        return frame

    def close(self) -> None:
        """Nothing to release: the photo was read on opening."""


class CameraSource(FrameSource):
    """Frames from a camera through OpenCV's ``VideoCapture``; ``read`` blocks for the next one.

    Args:
        index: the camera number (0 is the first camera).
        size: (width, height) to request; the camera may pick the nearest it supports.
        fps: frame rate to request.

    Raises:
        CameraError: the camera does not exist, is busy, or opens without delivering a frame;
            from ``read``: it stopped delivering frames.
    """

    is_live = True

    def __init__(self, index: int, *, size: tuple[int, int] | None = None, fps: float | None = None) -> None:
        self.index = index
        self.name = f"camera {index}"
        self._capture = cv2.VideoCapture(index)
        if not self._capture.isOpened():
            self._capture.release()
            raise CameraError(f"camera {index} is not available (no such camera, or another program is using it)")
        if size is not None:
            self._capture.set(cv2.CAP_PROP_FRAME_WIDTH, size[0])
            self._capture.set(cv2.CAP_PROP_FRAME_HEIGHT, size[1])
        if fps is not None:
            self._capture.set(cv2.CAP_PROP_FPS, fps)
        self._start = time.monotonic()
        self._last_ms = -1.0
        self._index = 0
        first = self._grab()
        if first is None:
            self._capture.release()
            raise CameraError(f"camera {index} opened but delivers no frames")
        self._pending: np.ndarray | None = first
        self.size = (int(first.shape[1]), int(first.shape[0]))
        reported = float(self._capture.get(cv2.CAP_PROP_FPS))
        self.fps = reported if reported > 0 else None

    def _grab(self) -> np.ndarray | None:
        for _ in range(_CAMERA_READ_RETRIES):
            ok, image = self._capture.read()
            if ok and image is not None:
                if image.ndim == 2:
                    image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
                return image
        return None

    def read(self) -> Frame:
        """The next camera frame; never None.

        Raises:
            CameraError: the camera stopped delivering frames (unplugged, taken by another program).
        """
        image, self._pending = self._pending, None
        if image is None:
            image = self._grab()
        if image is None:
            raise CameraError(f"camera {self.index} stopped delivering frames")
        timestamp_ms = max((time.monotonic() - self._start) * 1000.0, self._last_ms + 0.001)
        self._last_ms = timestamp_ms
        frame = Frame(image=image, timestamp_ms=timestamp_ms, index=self._index)
        self._index += 1
        return frame

    def close(self) -> None:
        self._capture.release()


def camera_index(spec: int | str | Path) -> int | None:
    """The camera number ``spec`` names (an int, or a string of digits), else None."""
    if isinstance(spec, bool):
        return None
    if isinstance(spec, int):
        return spec
    if isinstance(spec, str) and spec.strip().isdigit():
        return int(spec.strip())
    return None


def open_source(
    spec: int | str | Path, *, realtime: bool = False, image_fps: float = DEFAULT_IMAGE_FPS
) -> FrameSource:
    """Open what ``spec`` names: a camera number, a photo, or a video file.

    Args:
        spec: an int or a string of digits -> :class:`CameraSource`; a path with a photo
            suffix (.jpg, .png, .webp, .bmp, .tif, ...) -> :class:`ImageSource` repeating the
            photo forever; any other existing file -> :class:`VideoSource`.
        realtime: pace files to their frame rate (cameras are always real time).
        image_fps: frame rate of a photo source.

    Raises:
        CameraError: the camera is not available.
        InputError: the file is missing or is not a readable photo or video.
    """
    index = camera_index(spec)
    if index is not None:
        return CameraSource(index)
    path = Path(spec)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return ImageSource(path, fps=image_fps, realtime=realtime)
    return VideoSource(path, realtime=realtime)
