"""The cameras on this machine, by name, with the formats they offer.

The list comes from a :data:`CameraLister`; the app's default is :func:`qt_cameras`
(QtMultimedia's ``QMediaDevices.videoInputs()``). Tests and headless runs inject another lister,
e.g. ``lambda: []`` for a machine without cameras. Camera ``index`` follows the system's device
order, which is the order OpenCV opens cameras in on Linux (V4L2), Windows (MSMF) and macOS.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from PySide6.QtCore import QObject

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CameraFormat:
    """One mode a camera offers: size in pixels and the highest frame rate at that size."""

    width: int
    height: int
    max_fps: float

    @property
    def size(self) -> tuple[int, int]:
        return (self.width, self.height)


@dataclass(frozen=True)
class CameraInfo:
    index: int
    name: str
    device_id: str
    formats: tuple[CameraFormat, ...] = ()
    is_default: bool = False

    def sizes(self) -> list[tuple[int, int]]:
        """Distinct sizes, largest first."""
        sizes = {f.size for f in self.formats}
        return sorted(sizes, key=lambda s: (s[0] * s[1], s[0]), reverse=True)

    def frame_rates(self, size: tuple[int, int] | None) -> list[float]:
        """Common frame rates up to what the camera reaches at ``size`` (all sizes when None)."""
        formats = [f for f in self.formats if size is None or f.size == size]
        top = max((f.max_fps for f in formats), default=30.0)
        return [rate for rate in (15.0, 24.0, 25.0, 30.0, 50.0, 60.0) if rate <= top + 0.5] or [top]


CameraLister = Callable[[], list[CameraInfo]]


def qt_cameras() -> list[CameraInfo]:
    """Cameras as QtMultimedia sees them; [] (with a warning) when QtMultimedia cannot load."""
    try:
        from PySide6.QtMultimedia import QMediaDevices
    except ImportError as error:  # e.g. a missing system library (libpulse) for the multimedia plugin
        log.warning("QtMultimedia is unavailable (%s): no cameras are listed", error)
        return []
    default_id = bytes(QMediaDevices.defaultVideoInput().id().data())
    cameras = []
    for index, device in enumerate(QMediaDevices.videoInputs()):
        best: dict[tuple[int, int], float] = {}
        for fmt in device.videoFormats():
            size = (fmt.resolution().width(), fmt.resolution().height())
            if size[0] > 0 and size[1] > 0:
                best[size] = max(best.get(size, 0.0), float(fmt.maxFrameRate()))
        formats = tuple(CameraFormat(w, h, rate) for (w, h), rate in best.items())
        device_id = bytes(device.id().data())
        cameras.append(
            CameraInfo(index, device.description(), device_id.decode("utf-8", "replace"), formats, device_id == default_id)
        )
    return cameras


def watch_cameras(parent: QObject, on_change: Callable[[], None]) -> QObject | None:
    """Call ``on_change`` when a camera is plugged in or out (QtMultimedia); the watcher, or
    None where QtMultimedia cannot load."""
    try:
        from PySide6.QtMultimedia import QMediaDevices
    except ImportError:
        return None
    devices = QMediaDevices(parent)
    devices.videoInputsChanged.connect(on_change)
    return devices
