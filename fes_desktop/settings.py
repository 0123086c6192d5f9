"""Typed, versioned user settings, stored as JSON in the user config directory (no Qt).

The directory is ``$FES_CONFIG_DIR`` when set (tests point it at a temporary folder), else
``appdirs.user_config_dir("fes-desktop")``. The file holds ``asdict(Settings)`` plus
``schema_version``; older files are upgraded by :data:`MIGRATIONS` (one function per version
step), fields with a wrong type or value fall back to their default with a note, and a file that
is not JSON at all is moved aside as ``settings.json.corrupt-<timestamp>`` so defaults load.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import logging
import os
import time
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import appdirs

from engine.errors import OutputError
from engine.geometry.labels import EXPRESSIONS, MAX_INTENSITY
from engine.geometry.retarget import RegionGains
from engine.io import write_bytes_atomic

log = logging.getLogger(__name__)

APP_NAME = "fes-desktop"
CONFIG_DIR_ENV = "FES_CONFIG_DIR"
SETTINGS_FILE = "settings.json"
SCHEMA_VERSION = 1

MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}
"""``MIGRATIONS[n]`` turns a version-``n`` dict into a version ``n + 1`` dict. A change to the
layout below bumps :data:`SCHEMA_VERSION` and adds the step from the previous version here."""

SOURCE_KINDS = ("auto", "camera", "video", "photo", "clip")
EXPORT_FORMATS = ("mp4", "gif", "png")
VIEW_LAYOUTS = ("side_by_side", "result")
MODES = ("live", "edit")
MAX_GAIN = 2.0


def config_dir() -> Path:
    """Where settings, window state and the log live."""
    override = os.environ.get(CONFIG_DIR_ENV)
    return Path(override) if override else Path(appdirs.user_config_dir(APP_NAME))


@dataclass(frozen=True)
class SourceSettings:
    """kind: "auto" (first camera, else the bundled clip), "camera", "video", "photo" or "clip";
    camera: the camera's name as the system reports it; resolution (w, h) and fps: what to ask
    the camera for (None: its default); path: the video or photo; mirror: flip left-right."""

    kind: str = "auto"
    camera: str = ""
    resolution: tuple[int, int] | None = None
    fps: float | None = None
    path: str = ""
    mirror: bool = True

    def __post_init__(self) -> None:
        _choice("kind", self.kind, SOURCE_KINDS)
        if self.resolution is not None and min(self.resolution) <= 0:
            raise ValueError(f"resolution must be positive, got {self.resolution}")
        if self.fps is not None and self.fps <= 0:
            raise ValueError(f"fps must be positive, got {self.fps}")


@dataclass(frozen=True)
class TargetSettings:
    """path: the target photo ("" = the bundled default); face_index: which face of it."""

    path: str = ""
    face_index: int = 0

    def __post_init__(self) -> None:
        if self.face_index < 0:
            raise ValueError(f"face_index must be >= 0, got {self.face_index}")


@dataclass(frozen=True)
class ModelSettings:
    """model: "warp", a bundled model name or a model folder; backend: "auto" or "name[-precision]"."""

    model: str = "warp"
    backend: str = "auto"


@dataclass(frozen=True)
class ExpressionSettings:
    """label: one of EXPRESSIONS or "" (the photo's own expression); intensity 0..1.5;
    gains: live retargeting per region (0..2); smoothing: 0 (raw) .. 1 (steadiest);
    follow_pose: the target's head follows the driver's pose in live and exported reenactment."""

    label: str = ""
    intensity: float = 1.0
    gains: RegionGains = field(default_factory=RegionGains)
    smoothing: float = 0.5
    follow_pose: bool = True

    def __post_init__(self) -> None:
        if self.label:
            _choice("label", self.label, EXPRESSIONS)
        if not 0.0 <= self.intensity <= MAX_INTENSITY:
            raise ValueError(f"intensity must be 0..{MAX_INTENSITY}, got {self.intensity}")
        for name in ("brows", "eyes", "mouth", "jaw"):
            value = getattr(self.gains, name)
            if not 0.0 <= value <= MAX_GAIN:
                raise ValueError(f"gain {name} must be 0..{MAX_GAIN}, got {value}")
        if not 0.0 <= self.smoothing <= 1.0:
            raise ValueError(f"smoothing must be 0..1, got {self.smoothing}")


@dataclass(frozen=True)
class ViewSettings:
    layout: str = "side_by_side"
    overlay: bool = False
    mode: str = "live"

    def __post_init__(self) -> None:
        _choice("layout", self.layout, VIEW_LAYOUTS)
        _choice("mode", self.mode, MODES)


@dataclass(frozen=True)
class ExportSettings:
    """format: mp4, gif or png (a folder of frames); fps; long_side: output size in pixels of the
    longer side (0 = the target photo's size); sidecar: write the landmarks JSON; folder: where
    recordings go."""

    format: str = "mp4"
    fps: float = 25.0
    long_side: int = 0
    sidecar: bool = True
    folder: str = ""

    def __post_init__(self) -> None:
        _choice("format", self.format, EXPORT_FORMATS)
        if not 1.0 <= self.fps <= 120.0:
            raise ValueError(f"fps must be 1..120, got {self.fps}")
        if self.long_side < 0:
            raise ValueError(f"long_side must be >= 0, got {self.long_side}")


@dataclass(frozen=True)
class EditorSettings:
    """mirror: a landmark drag moves the matching point on the other half of the face too."""

    mirror: bool = False


@dataclass(frozen=True)
class WindowSettings:
    """QMainWindow.saveGeometry() / saveState() as base64 text ("" = the default layout)."""

    geometry: str = ""
    state: str = ""


@dataclass(frozen=True)
class Settings:
    source: SourceSettings = field(default_factory=SourceSettings)
    target: TargetSettings = field(default_factory=TargetSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    expression: ExpressionSettings = field(default_factory=ExpressionSettings)
    view: ViewSettings = field(default_factory=ViewSettings)
    export: ExportSettings = field(default_factory=ExportSettings)
    editor: EditorSettings = field(default_factory=EditorSettings)
    window: WindowSettings = field(default_factory=WindowSettings)

    def to_json(self) -> str:
        data = {"schema_version": SCHEMA_VERSION, **dataclasses.asdict(self)}
        return json.dumps(data, indent=2) + "\n"


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")


@dataclass(frozen=True)
class LoadResult:
    """settings: what to use; message: for the user when something was wrong (None when all was
    fine); moved_to: where a corrupt file was moved."""

    settings: Settings
    message: str | None = None
    moved_to: Path | None = None


class SettingsStore:
    """Loads and saves :class:`Settings` in ``directory`` (default :func:`config_dir`)."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or config_dir()
        self.path = self.directory / SETTINGS_FILE

    def load(self) -> LoadResult:
        """The stored settings; defaults when there are none, and on any problem (with a message)."""
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return LoadResult(Settings())
        except (OSError, UnicodeDecodeError) as error:
            return self._move_aside(f"cannot be read ({error})")
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as error:
            return self._move_aside(f"is not valid JSON (line {error.lineno}: {error.msg})")
        if not isinstance(data, dict):
            return self._move_aside("does not hold a settings object")
        problems: list[str] = []
        data = _migrate(data, problems)
        settings = _build(Settings, data, "", problems)
        layout = _unreadable_layout(settings.window)
        if layout:
            return self._move_aside(f"holds a window layout that cannot be read ({layout})")
        if problems:
            message = f"Some settings in {self.path} were invalid and were reset: {'; '.join(problems)}."
            log.warning(message)
            return LoadResult(settings, message)
        return LoadResult(settings)

    def save(self, settings: Settings) -> None:
        """Write atomically. Raises OutputError when the folder cannot be written."""
        self.directory.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(self.path, settings.to_json().encode("utf-8"))

    def _move_aside(self, reason: str) -> LoadResult:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        try:
            os.replace(self.path, target)
        except OSError as error:
            log.warning("could not move %s aside: %s", self.path, error)
            message = f"The settings file {self.path} {reason}; defaults are used."
            return LoadResult(Settings(), message)
        message = f"The settings file {reason}; it was moved to {target} and the defaults are used."
        log.warning(message)
        return LoadResult(Settings(), message, target)


def _unreadable_layout(window: WindowSettings) -> str:
    """Why the saved window geometry or dock state cannot be decoded ("" when both can)."""
    for name in ("geometry", "state"):
        try:
            base64.b64decode(getattr(window, name), validate=True)
        except (binascii.Error, ValueError) as error:
            return f"window.{name}: {error}"
    return ""


def save_quietly(store: SettingsStore, settings: Settings) -> str | None:
    """Save, returning a message for the user instead of raising when the disk refuses."""
    try:
        store.save(settings)
    except (OutputError, OSError) as error:
        log.warning("settings not saved: %s", error)
        return f"Settings could not be saved: {error}"
    return None


def _migrate(data: dict[str, Any], problems: list[str]) -> dict[str, Any]:
    version = data.get("schema_version", SCHEMA_VERSION)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        problems.append(f"schema_version {version!r} is not a version number")
        return data
    if version > SCHEMA_VERSION:
        log.warning("settings written by a newer FES Desktop (schema %d); unknown fields are ignored", version)
        return data
    while version < SCHEMA_VERSION:
        data = MIGRATIONS[version](data)
        version += 1
    return data


def _build(cls: type, data: Any, where: str, problems: list[str]) -> Any:
    """An instance of the frozen dataclass ``cls`` from ``data``; bad fields keep their defaults."""
    if not isinstance(data, dict):
        if data is not None:
            problems.append(f"{where or 'settings'} is not an object")
        return cls()
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        name = f"{where}.{f.name}" if where else f.name
        value = _convert(hints[f.name], data[f.name], name, problems)
        if value is not _INVALID:
            values[f.name] = value
    try:
        return cls(**values)
    except ValueError as error:
        problems.append(f"{where or 'settings'}: {error}")
    # Keep the fields that are valid on their own: try them one at a time on the defaults.
    result = cls()
    for key, value in values.items():
        try:
            result = dataclasses.replace(result, **{key: value})
        except ValueError:
            continue
    return result


_INVALID = object()


def _convert(hint: Any, value: Any, name: str, problems: list[str]) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        inner = next(t for t in options if t is not type(None))
        return _convert(inner, value, name, problems)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, name, problems)
    if origin is tuple:
        args = typing.get_args(hint)
        if isinstance(value, list) and len(value) == len(args):
            items = [_convert(t, v, f"{name}[{i}]", problems) for i, (t, v) in enumerate(zip(args, value))]
            if _INVALID not in items:
                return tuple(items)
            return _INVALID
    elif hint is bool and isinstance(value, bool):
        return value
    elif hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    elif hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    elif hint is str and isinstance(value, str):
        return value
    problems.append(f"{name} has the wrong type ({value!r})")
    return _INVALID
