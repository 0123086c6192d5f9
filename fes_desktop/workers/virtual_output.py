"""The live result as a system camera, for video calls and OBS (no Qt).

Wraps :class:`engine.pipeline.virtualcam.VirtualCamera` for the live worker: the worker thread
opens and closes it, the pipeline's render thread sends each result; the swap of the camera is
locked so a result never goes to a camera being closed.
"""

from __future__ import annotations

import logging
import threading

import numpy as np

from engine.errors import OutputError
from engine.pipeline.virtualcam import VirtualCamera, VirtualCameraOptions

log = logging.getLogger(__name__)

FPS = 30.0
"""What the virtual camera announces; the live pipeline sends at the source's own rate."""


class VirtualOutput:
    """At most one open virtual camera; :meth:`send` is a no-op while none is."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._camera: VirtualCamera | None = None

    @property
    def device(self) -> str | None:
        """The open camera's device name, None when off."""
        camera = self._camera
        return None if camera is None else camera.device

    def open(self, options: VirtualCameraOptions) -> str:
        """Open the camera (closing one already open); its device name. Raises OutputError with
        what to install when pyvirtualcam or a virtual camera device is missing."""
        self.close()
        camera = VirtualCamera.create(options)
        with self._lock:
            self._camera = camera
        return camera.device

    def send(self, image: np.ndarray) -> None:
        """Send one (H, W, 3) uint8 BGR result (resized to the camera's size). A camera that fails
        is closed and the error raised once as OutputError."""
        with self._lock:
            camera = self._camera
            if camera is None:
                return
            try:
                camera.send(image)
            except (RuntimeError, OSError, ValueError) as error:
                self._camera = None
                _close_quietly(camera)
                raise OutputError(f"the virtual camera stopped: {error}") from error

    def close(self) -> None:
        with self._lock:
            camera, self._camera = self._camera, None
        if camera is not None:
            _close_quietly(camera)


def _close_quietly(camera: VirtualCamera) -> None:
    try:
        camera.close()
    except (RuntimeError, OSError) as error:
        log.warning("closing the virtual camera: %s", error)
