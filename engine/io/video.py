"""Video in and out with PyAV: a frame reader and MP4 / GIF / PNG-sequence writers.

Frames are (H, W, 3) uint8 BGR everywhere. Every writer writes atomically: frames go to a hidden
temporary file (or folder) that is renamed to the output name on a clean close; an exception
inside ``with`` removes it and leaves any earlier output of that name untouched. Writers can
also collect per-frame landmarks and write the sidecar of :mod:`engine.io.landmarks_json`.
"""

from __future__ import annotations

import logging
import math
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import av.error
import cv2
import numpy as np
from av.video.reformatter import ColorPrimaries, ColorRange, Colorspace, ColorTrc
from PIL import Image

from engine.errors import InputError, OutputError
from engine.io.atomic import AtomicDir, AtomicFile, describe_os_error, write_all
from engine.io.files import check_input_file
from engine.io.landmarks_json import FrameLandmarks, LandmarkTrack, landmarks_to_json, sidecar_path

log = logging.getLogger(__name__)

FALLBACK_FPS = 30.0
"""Frame rate assumed for a video whose container states none."""

WRITER_SUFFIXES: tuple[str, ...] = (".mp4", ".gif")
"""File suffixes :func:`open_writer` accepts; a folder path gives a PNG sequence instead."""

_ROTATIONS = {90: cv2.ROTATE_90_COUNTERCLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_CLOCKWISE}


class VideoReader:
    """Decode a video file into (index, timestamp_ms, (H, W, 3) uint8 BGR) frames.

    The first frame is decoded on opening, so a file that is not a decodable video fails here.
    Frames are turned upright when the file carries a rotation (phone videos). Iterate once::

        with VideoReader("clip.mp4") as reader:
            for index, timestamp_ms, frame in reader:
                ...

    Attributes:
        path: the file.
        fps: frames per second stated by the file (average rate), else ``FALLBACK_FPS``.
        frame_count: frames the file declares, or an estimate from its duration, 0 if unknown.
        size: (width, height) of the frames yielded (after rotation).
        truncated: True once iteration found the file cut short or corrupt; frames up to that
            point were yielded and iteration ended without an exception.
        truncation_message: what went wrong, for the user, when ``truncated``.

    Raises:
        InputError: the file is missing, is not a video (or is a still image), has no video
            stream, or no frame of it can be decoded.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.truncated = False
        self.truncation_message: str | None = None
        check_input_file(self.path, "a video")
        try:
            self._container = av.open(str(self.path))
        except (av.error.FFmpegError, OSError) as error:
            raise InputError(f"{self.path}: not a readable video ({_reason(error)})") from error
        try:
            self._stream = self._open_stream()
            self.fps = _stream_fps(self._stream)
            self.frame_count = _frame_count(self._container, self._stream, self.fps)
            self._frames = self._decode()
            first = next(self._frames, None)
            if first is None:
                why = "cut short or corrupt before its first frame" if self.truncated else "it contains no frames"
                raise InputError(f"{self.path}: not a readable video ({why})")
        except BaseException:
            self._container.close()
            raise
        self._first_time, self._first = first
        self.size = (int(first[1].shape[1]), int(first[1].shape[0]))
        self._started = False

    def _open_stream(self) -> av.video.stream.VideoStream:
        name = self._container.format.name
        if name == "image2" or name.endswith("_pipe"):
            raise InputError(f"{self.path}: is a still image, not a video")
        if not self._container.streams.video:
            raise InputError(f"{self.path}: not a readable video (it has no video stream)")
        stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"
        return stream

    def _decode(self) -> Iterator[tuple[float | None, np.ndarray]]:
        """Yield (time in seconds or None, BGR frame); stop quietly at corruption, noting it."""
        decoded = 0
        try:
            for packet in self._container.demux(self._stream):
                for frame in packet.decode():
                    decoded += 1
                    yield frame.time, _to_bgr(frame)
        except (av.error.FFmpegError, OSError) as error:
            self._mark_truncated(f"decoding stopped after {decoded} frames: {_reason(error)}")
            try:
                for frame in self._stream.codec_context.decode(None):
                    decoded += 1
                    yield frame.time, _to_bgr(frame)
            except (av.error.FFmpegError, OSError) as flush_error:
                log.debug("%s: flushing the decoder after corruption failed: %s", self.path, flush_error)
        declared = self._stream.frames
        if not self.truncated and declared and decoded < declared:
            self._mark_truncated(f"the file ends after {decoded} of {declared} frames")

    def _mark_truncated(self, message: str) -> None:
        self.truncated = True
        self.truncation_message = message

    def __iter__(self) -> Iterator[tuple[int, float, np.ndarray]]:
        """Yield (frame_index, timestamp_ms, frame) with frame (H, W, 3) uint8 BGR.

        ``timestamp_ms`` counts from the first frame (0.0) and strictly increases; frames with a
        missing or non-increasing time stamp are placed one frame period after the previous one.
        A reader can be iterated once.
        """
        if self._started:
            raise RuntimeError(f"{self.path}: a VideoReader can be iterated only once")
        self._started = True
        period_ms = 1000.0 / self.fps
        origin = self._first_time
        previous = 0.0
        yield 0, 0.0, self._first
        for index, (time, frame) in enumerate(self._frames, start=1):
            if time is None or origin is None or (time - origin) * 1000.0 <= previous:
                timestamp = previous + period_ms
            else:
                timestamp = (time - origin) * 1000.0
            previous = timestamp
            yield index, timestamp, frame
        if self.truncated:
            log.warning("%s: truncated or corrupt video, %s", self.path, self.truncation_message)

    def close(self) -> None:
        """Release the file. Safe to call twice."""
        self._frames.close()
        self._container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _reason(error: BaseException) -> str:
    """A short human reason for an OSError or a PyAV error ("the disk is full", ...)."""
    if isinstance(error, OSError):
        return describe_os_error(error)
    if isinstance(error, av.error.FFmpegError) and error.strerror:
        return error.strerror[0].lower() + error.strerror[1:]
    return str(error)


def _to_bgr(frame: av.VideoFrame) -> np.ndarray:
    """Decoded frame -> upright (H, W, 3) uint8 BGR, honouring its colour matrix and range."""
    image = frame.to_ndarray(format="bgr24", src_color_range=frame.color_range or None)
    code = _ROTATIONS.get(frame.rotation % 360)
    return image if code is None else cv2.rotate(image, code)


def _stream_fps(stream: av.video.stream.VideoStream) -> float:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate and rate > 0:
            return float(rate)
    log.warning("%s states no frame rate; assuming %s fps", stream.container.name, FALLBACK_FPS)
    return FALLBACK_FPS


def _frame_count(container: av.container.InputContainer, stream: av.video.stream.VideoStream, fps: float) -> int:
    if stream.frames:
        return int(stream.frames)
    if stream.duration is not None and stream.time_base is not None:
        return round(float(stream.duration * stream.time_base) * fps)
    if container.duration is not None:
        return round(container.duration / av.time_base * fps)
    return 0


class FrameWriter(ABC):
    """Base of the video writers: frames in, an atomically written file or folder out.

    Use as a context manager; :meth:`close` commits, an exception inside ``with`` discards::

        with open_writer("out.mp4", fps=30, size=(512, 512)) as writer:
            writer.write(frame, landmarks=points68)

    Attributes:
        path: the output file or folder.
        fps: frames per second.
        size: (width, height) every frame must have.
        frames_written: frames accepted so far.
    """

    def __init__(self, path: Path, fps: float, size: tuple[int, int]) -> None:
        if not (math.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be a positive number, got {fps}")
        width, height = (int(v) for v in size)
        if width <= 0 or height <= 0:
            raise ValueError(f"size must be positive (width, height), got {size}")
        self.path = path
        self.fps = float(fps)
        self.size = (width, height)
        self.frames_written = 0
        self._landmarks: list[FrameLandmarks] = []
        self._closed = False

    def write(self, frame: np.ndarray, landmarks: np.ndarray | None = None, mesh: np.ndarray | None = None) -> None:
        """Append one frame, optionally with its landmarks for the sidecar.

        Args:
            frame: (H, W, 3) uint8 BGR with (W, H) equal to ``size``.
            landmarks: (68, 2) float iBUG points in frame pixels, or None for a frame without a
                face (it is left out of the sidecar).
            mesh: (478, 2) float FaceMesh points in frame pixels; only with ``landmarks``.

        Raises:
            OutputError: the file could not be written (disk full, encoder failure); the partial
                output is removed.
            ValueError: wrong frame shape or dtype, or ``mesh`` without ``landmarks``.
        """
        if self._closed:
            raise ValueError(f"{self.path}: write() after close()")
        width, height = self.size
        if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.shape != (height, width, 3):
            got = f"{frame.shape} {frame.dtype}" if isinstance(frame, np.ndarray) else type(frame).__name__
            raise ValueError(f"{self.path}: expected a ({height}, {width}, 3) uint8 BGR frame, got {got}")
        if landmarks is not None:
            timestamp = self.frames_written * 1000.0 / self.fps
            self._landmarks.append(FrameLandmarks(self.frames_written, timestamp, landmarks, mesh))
        elif mesh is not None:
            raise ValueError("mesh given without landmarks")
        try:
            self._write_frame(np.ascontiguousarray(frame))
        except (OSError, av.error.FFmpegError) as error:
            raise self._fail(error) from error
        self.frames_written += 1

    def close(self) -> None:
        """Finish the file, write the landmarks sidecar if any landmarks were given, and rename
        both into place. Safe to call twice.

        Raises:
            OutputError: finishing or renaming failed; nothing is left at the output path.
        """
        if self._closed:
            return
        self._closed = True
        try:
            self._finish()
        except (OSError, av.error.FFmpegError) as error:
            raise self._fail(error) from error
        self._commit(self._track_json() if self._landmarks else None)

    def abort(self) -> None:
        """Stop and delete the partial output; any earlier file at ``path`` stays. Idempotent."""
        self._closed = True
        self._discard()

    def _fail(self, error: BaseException) -> OutputError:
        self.abort()
        return OutputError(f"cannot write {self.path}: {_reason(error)}")

    def _track_json(self) -> bytes:
        track = LandmarkTrack(image_size=self.size, fps=self.fps, frames=tuple(self._landmarks))
        return landmarks_to_json(track).encode("utf-8")

    def __enter__(self) -> FrameWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    @abstractmethod
    def _write_frame(self, frame: np.ndarray) -> None:
        """Encode one validated (H, W, 3) uint8 BGR frame into the temporary output."""

    @abstractmethod
    def _finish(self) -> None:
        """Flush the encoder and close the temporary output (not yet renamed)."""

    @abstractmethod
    def _commit(self, sidecar: bytes | None) -> None:
        """Write the sidecar (if given) and rename everything into place."""

    @abstractmethod
    def _discard(self) -> None:
        """Close whatever is open and delete the temporary output."""


class _PyAVFileWriter(FrameWriter):
    """A single output file encoded by PyAV, plus an optional ``<output>.landmarks.json``."""

    def __init__(self, path: Path, fps: float, size: tuple[int, int]) -> None:
        super().__init__(path, fps, size)
        self._target = AtomicFile(path)
        try:
            self._container = av.open(str(self._target.path), "w", options=self._container_options())
        except (OSError, av.error.FFmpegError) as error:
            self._target.discard()
            raise OutputError(f"cannot write {path}: {_reason(error)}") from error
        try:
            self._stream = self._add_stream(self._container)
        except (OSError, av.error.FFmpegError) as error:
            raise self._fail(error) from error

    def _container_options(self) -> dict[str, str]:
        return {}

    @abstractmethod
    def _add_stream(self, container: av.container.OutputContainer) -> av.video.stream.VideoStream:
        """Add and configure the video stream."""

    @abstractmethod
    def _to_av_frame(self, frame: np.ndarray) -> av.VideoFrame:
        """Convert a BGR frame to what the encoder takes."""

    def _write_frame(self, frame: np.ndarray) -> None:
        av_frame = self._to_av_frame(frame)
        av_frame.pts = self.frames_written
        self._container.mux(self._stream.encode(av_frame))

    def _finish(self) -> None:
        self._container.mux(self._stream.encode(None))
        self._container.close()

    def _commit(self, sidecar: bytes | None) -> None:
        if sidecar is None:
            self._target.commit()
            return
        side = AtomicFile(sidecar_path(self.path))
        try:
            write_all(side.path, sidecar)
        except OSError as error:
            side.discard()
            self._target.discard()
            raise side.failure(error) from error
        try:
            self._target.commit()
        except OutputError:
            side.discard()
            raise
        side.commit()

    def _discard(self) -> None:
        try:
            self._container.close()
        except (OSError, av.error.FFmpegError) as error:
            log.debug("%s: closing the abandoned encoder failed: %s", self.path, error)
        self._target.discard()


class Mp4Writer(_PyAVFileWriter):
    """H.264 (libx264, CRF 18, yuv420p, BT.709 limited range, tagged) in MP4 with the index at
    the front (``faststart``), so a file cut short still plays up to the cut.

    yuv420p needs even dimensions: an odd width or height is padded by one column or row that
    repeats the last one (``BORDER_REPLICATE``), so the video is up to 1 px larger than ``size``
    while every pixel keeps its coordinates; the landmarks sidecar records ``size``.
    """

    CRF = 18
    PRESET = "medium"

    def _container_options(self) -> dict[str, str]:
        return {"movflags": "+faststart"}

    def _add_stream(self, container: av.container.OutputContainer) -> av.video.stream.VideoStream:
        width, height = self.size
        rate = Fraction(self.fps).limit_denominator(1001)
        stream = container.add_stream("libx264", rate=rate, options={"crf": str(self.CRF), "preset": self.PRESET})
        stream.width = width + width % 2
        stream.height = height + height % 2
        stream.pix_fmt = "yuv420p"
        context = stream.codec_context
        context.colorspace = Colorspace.ITU709
        context.color_range = ColorRange.MPEG
        context.color_primaries = ColorPrimaries.BT709
        context.color_trc = ColorTrc.BT709
        return stream

    def _to_av_frame(self, frame: np.ndarray) -> av.VideoFrame:
        width, height = self.size
        if width % 2 or height % 2:
            frame = cv2.copyMakeBorder(frame, 0, height % 2, 0, width % 2, cv2.BORDER_REPLICATE)
        return av.VideoFrame.from_ndarray(frame, format="bgr24").reformat(
            format="yuv420p", dst_colorspace=Colorspace.ITU709, dst_color_range=ColorRange.MPEG
        )


class GifWriter(_PyAVFileWriter):
    """Animated GIF that loops forever, encoded by PyAV's ``gif`` encoder.

    Each frame gets its own 256-colour palette (Pillow's fast octree) and is mapped onto it
    with Floyd-Steinberg dithering: far closer skin tones than one fixed palette, and about ten
    times faster than median cut at the same blurred error. GIF delays are whole
    centiseconds; frame ``i`` starts at ``round(i * 100 / fps)`` cs so the total duration is
    right even when single delays alternate (30 fps -> 3, 4, 3 cs). Above 50 fps delays drop
    below 2 cs, which many viewers slow down to 10 cs.
    """

    def _add_stream(self, container: av.container.OutputContainer) -> av.video.stream.VideoStream:
        if self.fps > 50:
            log.warning("%s: %.1f fps is faster than most GIF viewers play (50 fps at most)", self.path, self.fps)
        stream = container.add_stream("gif", rate=Fraction(self.fps).limit_denominator(1001))
        stream.width, stream.height = self.size
        stream.pix_fmt = "pal8"
        return stream

    def _to_av_frame(self, frame: np.ndarray) -> av.VideoFrame:
        rgb = Image.fromarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
        palette_image = rgb.quantize(256, method=Image.Quantize.FASTOCTREE)
        indexed = rgb.quantize(palette=palette_image, dither=Image.Dither.FLOYDSTEINBERG)
        colours = np.frombuffer(bytes(indexed.getpalette("RGB")), np.uint8).reshape(-1, 3)
        palette = np.zeros((256, 4), np.uint8)
        palette[:, 0] = 255
        palette[: len(colours), 1:] = colours[:256]
        return av.VideoFrame.from_ndarray((np.asarray(indexed), palette), format="pal8")


class PngSequenceWriter(FrameWriter):
    """A folder of ``frame_000000.png``, ``frame_000001.png``, ... plus ``landmarks.json``.

    The folder is filled under a hidden temporary name and renamed on close. An existing
    non-empty folder is refused when the writer opens unless ``overwrite`` is given; it is then
    replaced only after the new sequence is complete.
    """

    def __init__(self, path: Path, fps: float, size: tuple[int, int], *, overwrite: bool = False) -> None:
        super().__init__(path, fps, size)
        self._target = AtomicDir(path, overwrite=overwrite)

    def _write_frame(self, frame: np.ndarray) -> None:
        ok, encoded = cv2.imencode(".png", frame, [cv2.IMWRITE_PNG_COMPRESSION, 3])
        if not ok:
            raise OSError(f"the PNG encoder failed on frame {self.frames_written}")
        write_all(self._target.path / f"frame_{self.frames_written:06d}.png", encoded)

    def _finish(self) -> None:
        """Nothing to flush: every frame is already a complete file."""

    def _commit(self, sidecar: bytes | None) -> None:
        if sidecar is not None:
            try:
                write_all(sidecar_path(self._target.path, is_folder=True), sidecar)
            except OSError as error:
                self._target.discard()
                raise self._target.failure(error) from error
        self._target.commit()

    def _discard(self) -> None:
        self._target.discard()


def open_writer(path: Path | str, fps: float, size: tuple[int, int], *, overwrite: bool = False) -> FrameWriter:
    """Open the writer the output path asks for.

    Args:
        path: ``*.mp4`` -> :class:`Mp4Writer`; ``*.gif`` -> :class:`GifWriter`; a string ending
            in ``/`` or an existing folder -> :class:`PngSequenceWriter`. Suffixes are matched in
            any case. An existing file is replaced on a successful close.
        fps: frames per second, > 0.
        size: (width, height) of the frames that will be written.
        overwrite: for a PNG-sequence folder only: replace an existing non-empty folder.

    Raises:
        OutputError: unsupported suffix, missing or unwritable folder, or a non-empty output
            folder without ``overwrite``.
    """
    text = os.fspath(path)
    target = Path(text)
    if text.endswith(("/", os.sep)) or target.is_dir():
        return PngSequenceWriter(target, fps, size, overwrite=overwrite)
    suffix = target.suffix.lower()
    if suffix == ".mp4":
        return Mp4Writer(target, fps, size)
    if suffix == ".gif":
        return GifWriter(target, fps, size)
    raise OutputError(
        f"cannot write {target}: unsupported video format {suffix or '(none)'!r} "
        f"(use {' or '.join(WRITER_SUFFIXES)}, or a folder ending in / for PNG frames)"
    )
