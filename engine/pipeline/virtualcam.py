"""Optional virtual-camera output (pyvirtualcam), so video-call apps can use the reenacted face.

::

    with VirtualCamera.create(VirtualCameraOptions(width=1280, height=720, fps=30)) as cam:
        pipeline = LivePipeline.create(..., on_result=cam.send_result)

pyvirtualcam is an optional extra (``pip install fes-desktop[virtualcam]``); without it, or without
a virtual camera device (OBS Virtual Camera, v4l2loopback), :meth:`VirtualCamera.create` raises an
:class:`OutputError` whose message says what to install. Frames of another size are resized.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from engine.errors import OutputError
from engine.pipeline.live import PipelineResult

log = logging.getLogger(__name__)


def available() -> bool:
    """True when pyvirtualcam is installed (a device may still be missing)."""
    try:
        import pyvirtualcam  # noqa: F401
    except ImportError:
        return False
    return True


MAX_SIDE = 1280
"""A virtual camera announces one size for its whole life; results are fitted into at most this
(1280 x 720 for a 16:9 result)."""


@dataclass(frozen=True)
class VirtualCameraOptions:
    """width, height, fps: what the virtual camera announces; device: a specific device (None: the default)."""

    width: int = 1280
    height: int = 720
    fps: float = 30.0
    device: str | None = None

    @classmethod
    def fitting(cls, width: int, height: int, fps: float = 30.0) -> "VirtualCameraOptions":
        """A camera for frames of ``width`` x ``height``: that size, scaled down to fit
        :data:`MAX_SIDE`, in even numbers of pixels as camera formats want them."""
        scale = min(1.0, MAX_SIDE / max(width, height))
        return cls(width=_even(width * scale), height=_even(height * scale), fps=fps)


def _even(value: float) -> int:
    return max(2, int(round(value / 2.0)) * 2)


class VirtualCamera:
    """A virtual camera that takes (H, W, 3) uint8 BGR frames; use :meth:`create`."""

    def __init__(self, camera: Any, options: VirtualCameraOptions) -> None:
        self._camera = camera
        self.options = options
        self.device: str = camera.device
        self._frame = np.empty((options.height, options.width, 3), dtype=np.uint8)

    @classmethod
    def create(cls, options: VirtualCameraOptions = VirtualCameraOptions()) -> "VirtualCamera":
        """Open the virtual camera; raises OutputError with the fix when it cannot."""
        try:
            import pyvirtualcam
        except ImportError:
            raise OutputError(
                "virtual camera output needs pyvirtualcam: pip install 'fes-desktop[virtualcam]'"
            ) from None
        try:
            camera = pyvirtualcam.Camera(
                options.width, options.height, options.fps, fmt=pyvirtualcam.PixelFormat.BGR, device=options.device
            )
        except RuntimeError as exc:
            raise OutputError(
                f"no virtual camera device ({exc}); install OBS Virtual Camera (Windows/macOS) or v4l2loopback (Linux)"
            ) from exc
        log.info("virtual camera %s: %dx%d @ %.0f fps", camera.device, options.width, options.height, options.fps)
        return cls(camera, options)

    def send(self, image: np.ndarray) -> None:
        """Send one (H, W, 3) uint8 BGR frame, resized to the camera's size when it differs."""
        h, w = image.shape[:2]
        if (w, h) != (self.options.width, self.options.height):
            cv2.resize(image, (self.options.width, self.options.height), dst=self._frame, interpolation=cv2.INTER_AREA)
            image = self._frame
        self._camera.send(image)

    def sleep_until_next_frame(self) -> None:
        """Wait until the camera's next frame is due (pacing a file source to real time)."""
        self._camera.sleep_until_next_frame()

    def send_result(self, result: PipelineResult) -> None:
        """``on_result`` callback for :class:`engine.pipeline.live.LivePipeline`; skips empty results."""
        if result.image is not None:
            self.send(result.image)

    def close(self) -> None:
        self._camera.close()

    def __enter__(self) -> "VirtualCamera":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
