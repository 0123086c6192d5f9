"""Reading and writing what the engine consumes and produces, always atomically on output.

- photos: :func:`read_image` -> (H, W, 3) uint8 BGR, :func:`write_image`
- videos: :class:`VideoReader`, :func:`open_writer` (MP4, GIF, PNG-sequence folder)
- landmarks: the per-frame sidecar (:class:`LandmarkTrack`) and the edit list of ``fes edit``
- sources: :func:`open_source` for a camera number, a photo or a video, yielding :class:`Frame`
- atomic writes: :func:`atomic_path`, :func:`atomic_dir`, :func:`write_bytes_atomic`
"""

from engine.io.atomic import AtomicDir, AtomicFile, atomic_dir, atomic_path, write_bytes_atomic
from engine.io.images import IMAGE_SUFFIXES, read_image, write_image
from engine.io.landmarks_json import (
    FrameLandmarks,
    LandmarkEdit,
    LandmarkTrack,
    read_landmark_edits,
    read_landmarks_json,
    sidecar_path,
    write_landmark_edits,
    write_landmarks_json,
)
from engine.io.sources import CameraSource, Frame, FrameSource, ImageSource, VideoSource, open_source
from engine.io.video import FrameWriter, GifWriter, Mp4Writer, PngSequenceWriter, VideoReader, open_writer

__all__ = [
    "IMAGE_SUFFIXES",
    "AtomicDir",
    "AtomicFile",
    "CameraSource",
    "Frame",
    "FrameLandmarks",
    "FrameSource",
    "FrameWriter",
    "GifWriter",
    "ImageSource",
    "LandmarkEdit",
    "LandmarkTrack",
    "Mp4Writer",
    "PngSequenceWriter",
    "VideoReader",
    "VideoSource",
    "atomic_dir",
    "atomic_path",
    "open_source",
    "open_writer",
    "read_image",
    "read_landmark_edits",
    "read_landmarks_json",
    "sidecar_path",
    "write_bytes_atomic",
    "write_image",
    "write_landmark_edits",
    "write_landmarks_json",
]
