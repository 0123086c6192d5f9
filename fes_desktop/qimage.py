"""numpy (H, W, 3) uint8 BGR <-> QImage, without sharing memory between the two.

QImage.Format_RGB32 stores pixels as 0xffRRGGBB, which on the little-endian machines Qt 6 runs
on (x86-64, ARM64) is the byte order B, G, R, 255: a BGR array gains a fourth channel and is
copied in once. RGB32 is also the format QPainter draws fastest, so frames made here are painted
without a further conversion.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PySide6.QtGui import QImage


@dataclass(frozen=True)
class DisplaySize:
    """The room an image is shown in: logical pixels and the screen's device pixel ratio."""

    width: int
    height: int
    ratio: float = 1.0


@dataclass(frozen=True)
class PaneSizes:
    """The room for the source and for the result in the central view."""

    source: DisplaySize
    result: DisplaySize

def bgr_to_qimage(image: np.ndarray) -> QImage:
    """(H, W, 3) uint8 BGR -> a QImage that owns its pixels (safe to send to another thread)."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 BGR image, got {image.shape} {image.dtype}")
    height, width = image.shape[:2]
    qimage = QImage(width, height, QImage.Format.Format_RGB32)
    target = np.ndarray((height, qimage.bytesPerLine() // 4, 4), np.uint8, qimage.bits())
    cv2.cvtColor(image, cv2.COLOR_BGR2BGRA, dst=target[:, :width])
    return qimage


def qimage_to_bgr(qimage: QImage) -> np.ndarray:
    """Any QImage -> a new (H, W, 3) uint8 BGR array."""
    converted = qimage.convertToFormat(QImage.Format.Format_RGB32)
    height, width = converted.height(), converted.width()
    view = np.ndarray((height, converted.bytesPerLine() // 4, 4), np.uint8, converted.constBits())
    return np.ascontiguousarray(view[:, :width, :3])


def bgr_to_qimage_fitted(image: np.ndarray, size: DisplaySize | None) -> tuple[QImage, float]:
    """``image`` scaled to fit ``size`` (aspect kept) as a QImage the painter draws 1:1, and
    the scale applied (1.0 when ``size`` is None). Off the UI thread this takes the scaling
    out of the paint event."""
    if size is None or size.width <= 0 or size.height <= 0:
        return bgr_to_qimage(image), 1.0
    height, width = image.shape[:2]
    scale = min(size.width * size.ratio / width, size.height * size.ratio / height)
    target = (max(1, round(width * scale)), max(1, round(height * scale)))
    if target != (width, height):
        # Bilinear down to half size looks the same on screen at an eighth of INTER_AREA's cost.
        interpolation = cv2.INTER_AREA if scale < 0.5 else cv2.INTER_LINEAR
        image = cv2.resize(image, target, interpolation=interpolation)
    qimage = bgr_to_qimage(image)
    qimage.setDevicePixelRatio(size.ratio)
    return qimage, scale
