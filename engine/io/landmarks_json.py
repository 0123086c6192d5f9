"""Two small JSON formats: the per-frame landmarks sidecar and the hand-edit list of ``fes edit``.

Sidecar (written beside every video, PNG sequence or photo the engine renders)::

    {"format": "fes-landmarks", "version": 1, "layout": "ibug68",
     "image_size": [w, h], "fps": 30.0,
     "frames": [{"index": 0, "timestamp_ms": 0.0,
                 "landmarks": [[x, y], ... 68 points],
                 "mesh": [[x, y], ... 478 points]}]}

``fps`` is null for a single photo; ``mesh`` is optional per frame; frames without a face are
absent, so indices may skip but always increase. Coordinates are pixels of the image the frame
belongs to, written with 3 decimals.

Edits (``fes edit --landmarks EDITS.json``): a list ``[{"index": i, "x": .., "y": ..}]`` that
moves iBUG point ``i`` (0..67) to ``(x, y)`` in pixels of the photo being edited.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import InputError
from engine.io.atomic import write_bytes_atomic
from engine.io.files import check_input_file

FORMAT = "fes-landmarks"
VERSION = 1
LAYOUT = "ibug68"
NUM_LANDMARKS = 68
NUM_MESH_POINTS = 478
SIDECAR_SUFFIX = ".landmarks.json"
SIDECAR_IN_FOLDER = "landmarks.json"
MAX_JSON_BYTES = 256 << 20
"""The largest landmarks or edits file read (a 10,000-frame sidecar with meshes is ~200 MB)."""


def _points(value: Any, count: int, name: str) -> np.ndarray:
    points = np.asarray(value, dtype=np.float32)
    if points.shape != (count, 2):
        raise ValueError(f"{name} must have shape ({count}, 2), got {points.shape}")
    if not np.isfinite(points).all():
        raise ValueError(f"{name} contains non-finite coordinates")
    return points


@dataclass(frozen=True, eq=False)
class FrameLandmarks:
    """The landmarks of one frame.

    index: frame number in the video or sequence, from 0.
    timestamp_ms: presentation time of the frame in milliseconds.
    landmarks: (68, 2) float32 iBUG points in pixels.
    mesh: (478, 2) float32 FaceMesh points in pixels, or None.
    """

    index: int
    timestamp_ms: float
    landmarks: np.ndarray
    mesh: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.index < 0:
            raise ValueError(f"frame index must be >= 0, got {self.index}")
        if not math.isfinite(self.timestamp_ms):
            raise ValueError(f"timestamp_ms must be finite, got {self.timestamp_ms}")
        object.__setattr__(self, "landmarks", _points(self.landmarks, NUM_LANDMARKS, "landmarks"))
        if self.mesh is not None:
            object.__setattr__(self, "mesh", _points(self.mesh, NUM_MESH_POINTS, "mesh"))


@dataclass(frozen=True, eq=False)
class LandmarkTrack:
    """The contents of a landmarks sidecar.

    image_size: (width, height) in pixels of the frames the points belong to.
    fps: frames per second of the video or sequence; None for a single photo.
    frames: per-frame landmarks with strictly increasing indices.
    """

    image_size: tuple[int, int]
    fps: float | None
    frames: tuple[FrameLandmarks, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        width, height = (int(v) for v in self.image_size)
        if width <= 0 or height <= 0:
            raise ValueError(f"image_size must be positive, got {self.image_size}")
        object.__setattr__(self, "image_size", (width, height))
        if self.fps is not None and not (math.isfinite(self.fps) and self.fps > 0):
            raise ValueError(f"fps must be a positive number or None, got {self.fps}")
        object.__setattr__(self, "frames", tuple(self.frames))
        indices = [frame.index for frame in self.frames]
        if any(b <= a for a, b in zip(indices, indices[1:])):
            raise ValueError("frame indices must be strictly increasing")


def sidecar_path(output: Path | str, *, is_folder: bool = False) -> Path:
    """Where the landmarks of ``output`` go: ``out.mp4.landmarks.json``, or ``landmarks.json``
    inside ``output`` when it is a PNG-sequence folder."""
    output = Path(output)
    if is_folder:
        return output / SIDECAR_IN_FOLDER
    return output.with_name(output.name + SIDECAR_SUFFIX)


def _rounded(points: np.ndarray) -> list[list[float]]:
    return np.round(points.astype(np.float64), 3).tolist()


def _frame_to_json(frame: FrameLandmarks) -> dict[str, Any]:
    data: dict[str, Any] = {
        "index": frame.index,
        "timestamp_ms": round(float(frame.timestamp_ms), 3),
        "landmarks": _rounded(frame.landmarks),
    }
    if frame.mesh is not None:
        data["mesh"] = _rounded(frame.mesh)
    return data


def landmarks_to_json(track: LandmarkTrack) -> str:
    """Serialise ``track``: the header on the first line, then one line per frame."""
    header = {
        "format": FORMAT,
        "version": VERSION,
        "layout": LAYOUT,
        "image_size": list(track.image_size),
        "fps": track.fps,
    }
    lines = [json.dumps(_frame_to_json(frame), separators=(",", ":"), allow_nan=False) for frame in track.frames]
    body = ",\n".join(lines)
    return json.dumps(header)[:-1] + ', "frames": [\n' + body + ("\n" if lines else "") + "]}\n"


def write_landmarks_json(path: Path | str, track: LandmarkTrack) -> None:
    """Write ``track`` to ``path`` atomically.

    Raises:
        OutputError: the file cannot be written.
    """
    write_bytes_atomic(path, landmarks_to_json(track).encode("utf-8"))


def _load_json(path: Path) -> Any:
    check_input_file(path, "a JSON file")
    try:
        size = path.stat().st_size
    except OSError as error:
        raise InputError(f"{path}: cannot be read ({error.strerror or error})") from error
    if size > MAX_JSON_BYTES:
        raise InputError(f"{path}: {size / 2**20:.0f} MiB is too large for a landmarks file (at most {MAX_JSON_BYTES >> 20} MiB)")
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise InputError(f"{path}: cannot be read ({error.strerror or error})") from error
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        where = f"line {error.lineno}, column {error.colno}"
        raise InputError(f"{path}: not valid JSON ({error.msg} at {where})") from error
    except UnicodeDecodeError as error:
        raise InputError(f"{path}: not valid JSON (not UTF-8 text)") from error
    except RecursionError:
        raise InputError(f"{path}: not a landmarks file (lists or objects nested too deeply)") from None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _parse_points(path: Path, value: Any, count: int, where: str) -> np.ndarray:
    if not isinstance(value, list) or len(value) != count:
        got = f"{len(value)} items" if isinstance(value, list) else type(value).__name__
        raise InputError(f"{path}: {where} must be a list of {count} [x, y] points, got {got}")
    for i, point in enumerate(value):
        if not (isinstance(point, list) and len(point) == 2 and all(_is_number(v) and math.isfinite(v) for v in point)):
            raise InputError(f"{path}: {where}[{i}] must be [x, y] with two finite numbers, got {point!r}")
    return np.asarray(value, dtype=np.float32)


def _parse_frame(path: Path, value: Any, where: str) -> FrameLandmarks:
    if not isinstance(value, dict):
        raise InputError(f"{path}: {where} must be an object, got {type(value).__name__}")
    for key in ("index", "timestamp_ms", "landmarks"):
        if key not in value:
            raise InputError(f"{path}: {where} has no {key!r}")
    index, timestamp = value["index"], value["timestamp_ms"]
    if not _is_whole(index) or index < 0:
        raise InputError(f"{path}: {where}.index must be a whole number >= 0, got {index!r}")
    if not (_is_number(timestamp) and math.isfinite(timestamp)):
        raise InputError(f"{path}: {where}.timestamp_ms must be a finite number, got {timestamp!r}")
    landmarks = _parse_points(path, value["landmarks"], NUM_LANDMARKS, f"{where}.landmarks")
    mesh = value.get("mesh")
    if mesh is not None:
        mesh = _parse_points(path, mesh, NUM_MESH_POINTS, f"{where}.mesh")
    return FrameLandmarks(index=index, timestamp_ms=float(timestamp), landmarks=landmarks, mesh=mesh)


def read_landmarks_json(path: Path | str) -> LandmarkTrack:
    """Read and validate a landmarks sidecar.

    Raises:
        InputError: missing file, invalid JSON, another format or a newer version, or any field
            of the wrong type or shape; the message names the field (``frames[3].landmarks[12]``).
    """
    path = Path(path)
    data = _load_json(path)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InputError(f"{path}: not an FES landmarks file (no \"format\": \"{FORMAT}\")")
    version = data.get("version")
    if version != VERSION:
        raise InputError(f"{path}: landmarks file version {version!r} is not supported (this program reads {VERSION})")
    if data.get("layout") != LAYOUT:
        raise InputError(f"{path}: landmark layout {data.get('layout')!r} is not supported (expected {LAYOUT!r})")
    size = data.get("image_size")
    if not (isinstance(size, list) and len(size) == 2 and all(_is_whole(v) and v > 0 for v in size)):
        raise InputError(f"{path}: image_size must be [width, height] with positive whole numbers, got {size!r}")
    fps = data.get("fps")
    if fps is not None and not (_is_number(fps) and math.isfinite(fps) and fps > 0):
        raise InputError(f"{path}: fps must be a positive number or null, got {fps!r}")
    frames_data = data.get("frames")
    if not isinstance(frames_data, list):
        raise InputError(f"{path}: frames must be a list, got {type(frames_data).__name__}")
    frames = [_parse_frame(path, value, f"frames[{i}]") for i, value in enumerate(frames_data)]
    for i in range(1, len(frames)):
        if frames[i].index <= frames[i - 1].index:
            index, previous = frames[i].index, frames[i - 1].index
            raise InputError(f"{path}: frames[{i}].index {index} does not follow {previous} (indices must increase)")
    return LandmarkTrack(image_size=(size[0], size[1]), fps=None if fps is None else float(fps), frames=tuple(frames))


@dataclass(frozen=True)
class LandmarkEdit:
    """Move iBUG point ``index`` (0..67) to ``(x, y)``, in pixels of the photo being edited."""

    index: int
    x: float
    y: float


_EDIT_KEYS = ("index", "x", "y")
_EDIT_EXAMPLE = '{"index": 30, "x": 250.0, "y": 310.5}'


def _parse_edit(path: Path, value: Any, position: int) -> LandmarkEdit:
    where = f"edit {position}"
    if not isinstance(value, dict):
        raise InputError(f"{path}: {where} must be an object like {_EDIT_EXAMPLE}, got {value!r}")
    unknown = sorted(set(value) - set(_EDIT_KEYS))
    if unknown:
        raise InputError(f"{path}: {where} has unknown key {unknown[0]!r} (expected index, x, y)")
    missing = [key for key in _EDIT_KEYS if key not in value]
    if missing:
        raise InputError(f"{path}: {where} has no {missing[0]!r}")
    index = value["index"]
    if not _is_whole(index):
        raise InputError(f"{path}: {where}: index must be a whole number, got {index!r}")
    if not 0 <= index < NUM_LANDMARKS:
        raise InputError(f"{path}: {where}: index {index} is out of range 0..{NUM_LANDMARKS - 1}")
    for key in ("x", "y"):
        coordinate = value[key]
        if not _is_number(coordinate):
            raise InputError(f"{path}: {where}: {key} must be a number, got {coordinate!r}")
        if not math.isfinite(coordinate):
            raise InputError(f"{path}: {where}: {key} is not a finite number ({coordinate!r})")
    return LandmarkEdit(index=index, x=float(value["x"]), y=float(value["y"]))


EDIT_REACH = 0.5
"""How far beyond the face an edit may move a point, in face sizes (box of its 68 points)."""


def check_edits_near_face(edits: Iterable[LandmarkEdit], landmarks68: np.ndarray, reach: float = EDIT_REACH) -> None:
    """Refuse edits that move a point out of the face's neighbourhood.

    The neighbourhood is the box of the face's (68, 2) points grown by ``reach`` times its
    larger side on every side; a point dragged beyond it would tear the face apart.

    Raises:
        InputError: naming the first such edit and the allowed x and y ranges.
    """
    points = np.asarray(landmarks68, dtype=np.float64)
    low, high = points.min(axis=0), points.max(axis=0)
    margin = reach * float((high - low).max())
    low, high = low - margin, high + margin
    for position, edit in enumerate(edits):
        if not (low[0] <= edit.x <= high[0] and low[1] <= edit.y <= high[1]):
            raise InputError(
                f"edit {position} moves point {edit.index} to ({edit.x:.6g}, {edit.y:.6g}), far outside the face; "
                f"edits must stay within x {low[0]:.0f}..{high[0]:.0f}, y {low[1]:.0f}..{high[1]:.0f}"
            )


def read_landmark_edits(path: Path | str) -> list[LandmarkEdit]:
    """Read ``[{"index": i, "x": .., "y": ..}, ...]`` (edits numbered from 0 in messages).

    Raises:
        InputError: missing file, invalid JSON, not a list, an edit that is not an object or has
            missing or unknown keys, a non-integer index or one outside 0..67, the same index
            twice, or x / y that are not finite numbers.
    """
    path = Path(path)
    data = _load_json(path)
    if not isinstance(data, list):
        raise InputError(f"{path}: expected a list of edits like [{_EDIT_EXAMPLE}], got {type(data).__name__}")
    edits: list[LandmarkEdit] = []
    first_seen: dict[int, int] = {}
    for position, value in enumerate(data):
        edit = _parse_edit(path, value, position)
        if edit.index in first_seen:
            earlier = first_seen[edit.index]
            raise InputError(f"{path}: edit {position}: index {edit.index} already moved by edit {earlier}")
        first_seen[edit.index] = position
        edits.append(edit)
    return edits


def write_landmark_edits(path: Path | str, edits: Iterable[LandmarkEdit]) -> None:
    """Write edits in the format :func:`read_landmark_edits` reads, atomically.

    Raises:
        OutputError: the file cannot be written.
    """
    items: list[dict[str, Any]] = [
        {"index": edit.index, "x": round(edit.x, 3), "y": round(edit.y, 3)} for edit in edits
    ]
    write_bytes_atomic(path, (json.dumps(items, indent=1, allow_nan=False) + "\n").encode("utf-8"))
