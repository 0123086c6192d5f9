"""The central view: source and result side by side, or the result alone, with optional landmarks.

Side by side uses the space: the two images are laid out in a row or a column, whichever shows
them larger, each as wide as its aspect ratio needs (a landscape webcam beside a portrait photo
gets more width), at one common height (row) or width (column).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent, QPixmap, QResizeEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from fes_desktop.qimage import DisplaySize, PaneSizes

from fes_desktop.widgets.drawing import (
    BACKGROUND,
    LANDMARK_COLOUR,
    SOURCE_LANDMARK_COLOUR,
    draw_caption,
    draw_landmarks,
    fit_rect,
)

GAP = 8
MARGIN = 8


class _Pane:
    def __init__(self) -> None:
        self.image: QImage | None = None
        self.points: np.ndarray | None = None
        self.caption = ""

    def set(self, image: QImage | None, points: np.ndarray | None) -> None:
        self.image = image
        self.points = points


class FrameView(QWidget):
    """Paints QImages handed over by the workers; never converts or computes anything heavy.

    ``pane_size_changed`` tells the live worker how large each pane is, so it sends frames already
    scaled to fit: an image whose size matches its pane is drawn 1:1, without scaling. Landmark
    points are in the pixels of the image they come with.
    """

    pane_size_changed = Signal(object)  # PaneSizes

    SIDE_BY_SIDE = "side_by_side"
    RESULT_ONLY = "result"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("frameView")
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._source = _Pane()
        self._result = _Pane()
        self._layout = self.SIDE_BY_SIDE
        self._overlay = False
        self._placeholder = "Starting…"

    def sizeHint(self) -> QSize:
        return QSize(960, 520)

    def minimumSizeHint(self) -> QSize:
        return QSize(320, 200)

    # ---- state ----

    def set_frames(
        self,
        source: QImage | None,
        result: QImage | None,
        source_points: np.ndarray | None = None,
        result_points: np.ndarray | None = None,
    ) -> None:
        before = self._aspects()
        self._source.set(source, source_points)
        self._result.set(result, result_points)
        if self._aspects() != before:
            self._publish_pane_size()
        self.update()

    def _aspects(self) -> tuple[float, float] | None:
        """(source, result) width / height to lay the panes out by, rounded so that a refitted
        image of the same shape keeps the layout; None until both images are known."""
        source, result = self._source.image, self._result.image
        if source is None or result is None or source.isNull() or result.isNull():
            return None
        return round(source.width() / source.height(), 2), round(result.width() / result.height(), 2)

    @property
    def captions(self) -> tuple[str, str]:
        """(source caption, result caption) as drawn."""
        return self._source.caption, self._result.caption

    def set_captions(self, source: str, result: str) -> None:
        self._source.caption = source
        self._result.caption = result
        self.update()

    def set_layout(self, layout: str) -> None:
        self._layout = layout
        self._publish_pane_size()
        self.update()

    def pane_size(self) -> PaneSizes:
        areas = self._pane_areas()
        ratio = self.devicePixelRatioF()
        sizes = [DisplaySize(int(area.width()), int(area.height()), ratio) for _, area, _ in areas]
        return PaneSizes(sizes[0], sizes[-1])

    def image_rects(self) -> list[QRectF]:
        """Where the images are drawn now (source first when side by side), in widget pixels."""
        rects = []
        for pane, area, _ in self._pane_areas():
            if pane.image is not None and not pane.image.isNull():
                rects.append(fit_rect(pane.image.width(), pane.image.height(), area))
        return rects

    def _publish_pane_size(self) -> None:
        self.pane_size_changed.emit(self.pane_size())

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._publish_pane_size()

    def set_overlay(self, on: bool) -> None:
        self._overlay = on
        self.update()

    def set_placeholder(self, text: str) -> None:
        """Shown where the result goes until the first frame arrives."""
        self._placeholder = text
        self.update()

    @property
    def layout_mode(self) -> str:
        return self._layout

    @property
    def overlay(self) -> bool:
        return self._overlay

    def result_image(self) -> QImage | None:
        return self._result.image

    def source_image(self) -> QImage | None:
        return self._source.image

    def result_pixmap(self) -> QPixmap:
        """The result as shown (a null pixmap before the first frame)."""
        return QPixmap() if self._result.image is None else QPixmap.fromImage(self._result.image)

    # ---- painting ----

    def _pane_areas(self) -> list[tuple[_Pane, QRectF, QColor]]:
        area = QRectF(self.rect()).adjusted(MARGIN, MARGIN, -MARGIN, -MARGIN)
        if self._layout == self.RESULT_ONLY:
            return [(self._result, area, LANDMARK_COLOUR)]
        aspects = self._aspects()
        if aspects is None:
            half = (area.width() - GAP) / 2
            left = QRectF(area.left(), area.top(), half, area.height())
            right = QRectF(area.left() + half + GAP, area.top(), half, area.height())
        else:
            left, right = side_by_side(area, *aspects)
        return [(self._source, left, SOURCE_LANDMARK_COLOUR), (self._result, right, LANDMARK_COLOUR)]

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), BACKGROUND)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        for pane, area, colour in self._pane_areas():
            image = pane.image
            if image is None or image.isNull():
                painter.setPen(QColor(150, 150, 150))
                text = self._placeholder if pane is self._result else "No source frame yet"
                painter.drawText(area, Qt.AlignmentFlag.AlignCenter, text)
                draw_caption(painter, pane.caption, area.topLeft() + QPointF(6, 6), area.width() - 12)
                continue
            ratio = image.devicePixelRatio()
            width, height = image.width() / ratio, image.height() / ratio
            target = fit_rect(image.width(), image.height(), area)
            if abs(target.width() - width) < 1.0 and abs(target.height() - height) < 1.0:
                target = QRectF(round(target.left()), round(target.top()), width, height)  # 1:1, no scaling
            painter.drawImage(target, image)
            if self._overlay and pane.points is not None:
                draw_landmarks(painter, pane.points, target, (image.width(), image.height()), colour)
            draw_caption(painter, pane.caption, target.topLeft() + QPointF(6, 6), target.width() - 12)
        painter.end()


def side_by_side(area: QRectF, source_aspect: float, result_aspect: float, gap: float = GAP) -> tuple[QRectF, QRectF]:
    """Panes for two images of these aspects (width / height) in ``area``: a row at a common
    height or a column at a common width, whichever draws more image area; centred."""
    a, b = source_aspect, result_aspect
    row_height = min(area.height(), max(area.width() - gap, 1.0) / (a + b))
    column_width = min(area.width(), max(area.height() - gap, 1.0) / (1.0 / a + 1.0 / b))
    if row_height * row_height * (a + b) >= column_width * column_width * (1.0 / a + 1.0 / b):
        left = area.left() + (area.width() - gap - row_height * (a + b)) / 2.0
        first = QRectF(left, area.top(), row_height * a, area.height())
        second = QRectF(first.right() + gap, area.top(), row_height * b, area.height())
    else:
        top = area.top() + (area.height() - gap - column_width * (1.0 / a + 1.0 / b)) / 2.0
        first = QRectF(area.left(), top, area.width(), column_width / a)
        second = QRectF(area.left(), first.bottom() + gap, area.width(), column_width / b)
    return first, second
