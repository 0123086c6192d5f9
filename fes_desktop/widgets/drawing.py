"""Painting helpers shared by the frame view and the landmark canvas."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen, QPolygonF

from fes_desktop.landmarks import CONTOURS

BACKGROUND = QColor(30, 31, 34)
CAPTION_BACKGROUND = QColor(0, 0, 0, 150)
LANDMARK_COLOUR = QColor(80, 220, 120)
SOURCE_LANDMARK_COLOUR = QColor(90, 180, 255)


def fit_rect(image_width: int, image_height: int, area: QRectF) -> QRectF:
    """The largest rectangle of the image's aspect ratio centred in ``area``."""
    if image_width <= 0 or image_height <= 0 or area.isEmpty():
        return QRectF()
    scale = min(area.width() / image_width, area.height() / image_height)
    width, height = image_width * scale, image_height * scale
    return QRectF(area.center().x() - width / 2, area.center().y() - height / 2, width, height)


def _polygon(points: np.ndarray) -> QPolygonF:
    return QPolygonF([QPointF(float(x), float(y)) for x, y in points])


def draw_landmarks(painter: QPainter, points: np.ndarray, target: QRectF, image_size: tuple[int, int], colour: QColor) -> None:
    """Outline and dots of (68, 2) ``points``, given in the pixels of an image of ``image_size``
    drawn into ``target``. One polyline per contour and one drawPoints call for the dots keep
    this to about a millisecond."""
    scale = np.array([target.width() / image_size[0], target.height() / image_size[1]])
    mapped = np.asarray(points, np.float64) * scale + (target.left(), target.top())
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    line = QColor(colour)
    line.setAlpha(150)
    painter.setPen(QPen(line, 1.2))
    painter.setBrush(Qt.BrushStyle.NoBrush)
    for indices, closed in CONTOURS:
        polygon = _polygon(mapped[list(indices)])
        if closed:
            painter.drawPolygon(polygon)
        else:
            painter.drawPolyline(polygon)
    diameter = max(3.0, min(6.0, target.width() / 125))
    painter.setPen(QPen(colour, diameter, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
    painter.drawPoints(_polygon(mapped))
    painter.restore()


def draw_caption(painter: QPainter, text: str, anchor: QPointF, max_width: float) -> None:
    """White text on a dark rounded box with its top-left corner at ``anchor``, elided to fit
    ``max_width``."""
    if not text:
        return
    painter.save()
    metrics = painter.fontMetrics()
    text = metrics.elidedText(text, Qt.TextElideMode.ElideRight, max(0, int(max_width) - 14))
    box = QRectF(anchor.x(), anchor.y(), metrics.horizontalAdvance(text) + 14, metrics.height() + 8)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(CAPTION_BACKGROUND)
    painter.drawRoundedRect(box, 4, 4)
    painter.setPen(QColor(235, 235, 235))
    painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
    painter.restore()
