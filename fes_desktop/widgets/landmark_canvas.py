"""The landmark editor's canvas: the photo with its 68 points, to drag by mouse.

Left-drag a point to move it; Shift + left-drag moves the point's whole region (a brow, an
eye, the nose, the mouth, the jaw); with mirroring on, the other side of the face follows
mirror-symmetrically. The wheel zooms about the cursor, the middle or right button pans, a
double click fits the photo to the canvas again. Points moved by hand show a faint line back
to where the expression put them.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPen, QPolygonF, QWheelEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from fes_desktop.landmarks import CONTOURS, REGIONS, Drag, LandmarkDocument, Move, region_of
from fes_desktop.widgets.drawing import BACKGROUND, LANDMARK_COLOUR, fit_rect

HIT_RADIUS = 9.0  # widget pixels
POINT_RADIUS = 3.5
ZOOM_STEP = 1.25
MAX_ZOOM = 16.0
HOVER_COLOUR = QColor(255, 210, 60)
MOVED_COLOUR = QColor(255, 120, 80)
GHOST_COLOUR = QColor(255, 255, 255, 110)


class LandmarkCanvas(QWidget):
    hovered = Signal(int)  # point index under the mouse, -1 for none
    move_finished = Signal(object)  # fes_desktop.landmarks.Move of a finished drag

    def __init__(self, document: LandmarkDocument, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("landmarkCanvas")
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.document = document
        self.mirror = False
        self._image: QImage | None = None
        self._zoom = 1.0
        self._pan = QPointF(0.0, 0.0)
        self._drag: Drag | None = None
        self._grab_offset = np.zeros(2)
        self._pan_from: QPointF | None = None
        self._hover = -1
        self._region_hint = False
        document.subscribe(lambda change: self.update())

    def sizeHint(self) -> QSize:
        return QSize(360, 380)

    def minimumSizeHint(self) -> QSize:
        return QSize(200, 200)

    def set_image(self, image: QImage | None) -> None:
        """The photo behind the points (the latest edit result, or the target itself)."""
        size_changed = self._image is None or image is None or image.size() != self._image.size()
        self._image = image
        if size_changed:
            self.fit()
        self.update()

    def fit(self) -> None:
        self._zoom = 1.0
        self._pan = QPointF(0.0, 0.0)
        self.update()

    @property
    def dragging(self) -> bool:
        return self._drag is not None

    # ---- coordinates ----

    def image_rect(self) -> QRectF:
        """Where the photo is drawn, in widget pixels."""
        if self._image is None:
            return QRectF()
        fitted = fit_rect(self._image.width(), self._image.height(), QRectF(self.rect()).adjusted(4, 4, -4, -4))
        centre = fitted.center() + self._pan
        width, height = fitted.width() * self._zoom, fitted.height() * self._zoom
        return QRectF(centre.x() - width / 2, centre.y() - height / 2, width, height)

    def _scale(self) -> float:
        rect = self.image_rect()
        return rect.width() / self._image.width() if self._image is not None and self._image.width() else 1.0

    def to_widget(self, x: float, y: float) -> QPointF:
        """Photo pixels -> widget pixels."""
        rect = self.image_rect()
        scale = self._scale()
        return QPointF(rect.left() + x * scale, rect.top() + y * scale)

    def to_image(self, point: QPointF) -> tuple[float, float]:
        """Widget pixels -> photo pixels."""
        rect = self.image_rect()
        scale = self._scale()
        return ((point.x() - rect.left()) / scale, (point.y() - rect.top()) / scale)

    def _point_at(self, position: QPointF) -> int:
        if self._image is None:
            return -1
        x, y = self.to_image(position)
        index = self.document.nearest(x, y, HIT_RADIUS / self._scale())
        return -1 if index is None else index

    # ---- mouse ----

    def mousePressEvent(self, event: QMouseEvent) -> None:
        position = event.position()
        if event.button() == Qt.MouseButton.LeftButton:
            index = self._point_at(position)
            if index >= 0:
                region = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
                self._drag = Drag(self.document, index, region=region, mirror=self.mirror)
                self._grab_offset = np.subtract(self.document.points[index], self.to_image(position))
                self.setCursor(Qt.CursorShape.ClosedHandCursor)
                event.accept()
                return
        if event.button() in (Qt.MouseButton.MiddleButton, Qt.MouseButton.RightButton):
            self._pan_from = position
            self.setCursor(Qt.CursorShape.SizeAllCursor)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        position = event.position()
        if self._drag is not None:
            x, y = np.add(self.to_image(position), self._grab_offset)
            self._drag.move_to(float(x), float(y))
            return
        if self._pan_from is not None:
            self._pan += position - self._pan_from
            self._pan_from = position
            self.update()
            return
        self._region_hint = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        index = self._point_at(position)
        if index != self._hover:
            self._hover = index
            self.setCursor(Qt.CursorShape.OpenHandCursor if index >= 0 else Qt.CursorShape.ArrowCursor)
            self.hovered.emit(index)
            self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._drag is not None and event.button() == Qt.MouseButton.LeftButton:
            move: Move | None = self._drag.finish()
            self._drag = None
            self.setCursor(Qt.CursorShape.OpenHandCursor if self._hover >= 0 else Qt.CursorShape.ArrowCursor)
            if move is not None:
                self.move_finished.emit(move)
            self.update()
            return
        if self._pan_from is not None:
            self._pan_from = None
            self.setCursor(Qt.CursorShape.ArrowCursor)
            return
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        if self._point_at(event.position()) < 0:
            self.fit()

    def wheelEvent(self, event: QWheelEvent) -> None:
        if self._image is None or self._drag is not None:
            return
        steps = event.angleDelta().y() / 120.0
        zoom = float(np.clip(self._zoom * ZOOM_STEP**steps, 1.0, MAX_ZOOM))
        anchor = event.position()
        before = self.to_image(anchor)
        self._zoom = zoom
        if zoom == 1.0:
            self._pan = QPointF(0.0, 0.0)
        else:
            after = self.to_widget(*before)
            self._pan += anchor - after
        self.update()

    # ---- painting ----

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), BACKGROUND)
        if self._image is None:
            painter.setPen(QColor(150, 150, 150))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "Loading the target photo…")
            return
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawImage(self.image_rect(), self._image)
        if not self.document.has_base:
            return
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        points = self.document.points
        base = self.document.base
        outline = QColor(LANDMARK_COLOUR)
        outline.setAlpha(140)
        painter.setPen(QPen(outline, 1.2))
        for indices, closed in CONTOURS:
            polygon = QPolygonF([self.to_widget(*points[i]) for i in indices])
            if closed:
                painter.drawPolygon(polygon)
            else:
                painter.drawPolyline(polygon)
        moved = set(int(i) for i in self.document.moved)
        painter.setPen(QPen(GHOST_COLOUR, 1.0, Qt.PenStyle.DashLine))
        for i in moved:
            painter.drawLine(self.to_widget(*base[i]), self.to_widget(*points[i]))
        highlighted = self._highlighted()
        painter.setPen(QPen(QColor(0, 0, 0, 160), 1.0))
        for i, (x, y) in enumerate(points):
            colour = HOVER_COLOUR if i in highlighted else MOVED_COLOUR if i in moved else LANDMARK_COLOUR
            radius = POINT_RADIUS + (1.5 if i in highlighted else 0.0)
            painter.setBrush(colour)
            painter.drawEllipse(self.to_widget(x, y), radius, radius)
        painter.end()

    def _highlighted(self) -> set[int]:
        if self._drag is not None:
            return set(self._drag.group)
        if self._hover < 0:
            return set()
        if self._region_hint:
            return set(REGIONS[region_of(self._hover)])
        return {self._hover}
