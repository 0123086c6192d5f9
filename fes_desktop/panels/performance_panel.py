"""Performance panel: per-stage milliseconds, frames per second and latency over the last half
minute (pyqtgraph), and a one-line summary with the dropped frames.

A pause of the live view (photo edit, a rebuild) breaks the curves: no line is drawn across
time in which nothing ran.

Drawing cost on the UI thread is kept to a few milliseconds per update: one graphics scene for
the three plots, curves without antialiasing, fixed x ranges ("seconds ago"), the colour key as a
label instead of in-plot legends, and no redraw at all while the panel is hidden.
"""

from __future__ import annotations

import time
from collections import deque

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from engine.pipeline.stats import STAGES
from fes_desktop.workers.live_types import LiveStats
from fes_desktop.workers.live_worker import STATS_INTERVAL_MS

HISTORY_SECONDS = 30
HISTORY = HISTORY_SECONDS * 1000 // STATS_INTERVAL_MS
Colour = tuple[int, int, int]
STAGE_COLOURS: dict[str, Colour] = {"capture": (120, 170, 255), "track": (250, 200, 80), "render": (90, 220, 140), "output": (230, 120, 200)}
FPS_COLOUR: Colour = (90, 220, 140)
P50_COLOUR: Colour = (250, 200, 80)
P95_COLOUR: Colour = (240, 110, 90)


class PerformancePanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("performancePanel")
        self._t0 = time.monotonic()
        self._times: deque[float] = deque(maxlen=HISTORY)
        self._stages: dict[str, deque[float]] = {name: deque(maxlen=HISTORY) for name in STAGES}
        self._fps: deque[float] = deque(maxlen=HISTORY)
        self._latency50: deque[float] = deque(maxlen=HISTORY)
        self._latency95: deque[float] = deque(maxlen=HISTORY)
        self._last: LiveStats | None = None
        self._dropped = 0
        self._count = 0

        self.plots = pg.GraphicsLayoutWidget()
        self.plots.setObjectName("performancePlots")
        self.plots.setMinimumHeight(120)
        self.ms_plot = _plot(self.plots, "Stage time (ms per frame)")
        self._stage_curves = {name: _curve(self.ms_plot, colour) for name, colour in STAGE_COLOURS.items()}
        self.fps_plot = _plot(self.plots, "Frames per second")
        self._fps_curve = _curve(self.fps_plot, FPS_COLOUR)
        self.latency_plot = _plot(self.plots, "Capture-to-output latency (ms)")
        self._latency50_curve = _curve(self.latency_plot, P50_COLOUR)
        self._latency95_curve = _curve(self.latency_plot, P95_COLOUR)

        key = [(name, colour) for name, colour in STAGE_COLOURS.items()]
        key += [("fps", FPS_COLOUR), ("latency p50", P50_COLOUR), ("latency p95", P95_COLOUR)]
        self.key = QLabel("&nbsp;&nbsp;".join(_swatch(name, colour) for name, colour in key))
        self.summary = QLabel("Not running")
        self.summary.setObjectName("performanceSummary")
        for label in (self.key, self.summary):
            label.setWordWrap(True)  # long lines must not widen the bottom dock area
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.key)
        layout.addWidget(self.plots, 1)
        layout.addWidget(self.summary)

    @property
    def samples(self) -> int:
        """Statistics samples received since the panel was made."""
        return self._count

    def add_stats(self, stats: LiveStats, dropped: int) -> None:
        """Record a sample; ``dropped``: frames dropped with the current source so far. The plots
        redraw only while the panel is visible."""
        p = stats.pipeline
        self._append({name: (t.mean if (t := p.stages.get(name)) else 0.0) for name in STAGES}, p.fps, p.latency_p50_ms, p.latency_p95_ms)
        self._last = stats
        self._dropped = dropped
        self._count += 1
        if self.isVisible():
            self._redraw()

    def break_line(self) -> None:
        """The live view paused and runs again: end the curves here; the next sample starts anew."""
        nan = float("nan")
        self._append(dict.fromkeys(STAGES, nan), nan, nan, nan)

    def _append(self, stages: dict[str, float], fps: float, latency50: float, latency95: float) -> None:
        self._times.append(time.monotonic() - self._t0)
        for name in STAGES:
            self._stages[name].append(stages[name])
        self._fps.append(fps)
        self._latency50.append(latency50)
        self._latency95.append(latency95)

    def fps_history(self) -> tuple[np.ndarray, np.ndarray]:
        """(time.monotonic() seconds, fps) of the plotted samples; NaN where the curve breaks."""
        return np.fromiter(self._times, float) + self._t0, np.fromiter(self._fps, float)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._redraw()

    def _redraw(self) -> None:
        stats = self._last
        if stats is None:
            return
        p = stats.pipeline
        ago = np.fromiter(self._times, float) - (time.monotonic() - self._t0)
        for name, curve in self._stage_curves.items():
            curve.setData(ago, np.fromiter(self._stages[name], float))
        self._fps_curve.setData(ago, np.fromiter(self._fps, float))
        self._latency50_curve.setData(ago, np.fromiter(self._latency50, float))
        self._latency95_curve.setData(ago, np.fromiter(self._latency95, float))
        self.summary.setText(
            f"{p.fps:.1f} fps · latency p50 {p.latency_p50_ms:.0f} ms, p95 {p.latency_p95_ms:.0f} ms · "
            f"{p.frames_output} frames · dropped {self._dropped} with this source (this run: "
            f"{p.dropped.get('track', 0)} before tracking, {p.dropped.get('render', 0)} before rendering, "
            f"{stats.display_dropped} before display) · {p.no_face_frames} without a face"
        )


def _swatch(name: str, colour: Colour) -> str:
    return f'<span style="color: rgb{colour}; font-weight: bold;">▬</span> {name}'


def _plot(layout: pg.GraphicsLayoutWidget, title: str) -> pg.PlotItem:
    """A plot of the last HISTORY_SECONDS; x is seconds before now, so its range never changes
    (a moving x range would lay the axes out again on every redraw, doubling the cost)."""
    plot = layout.addPlot(title=title)
    plot.setMouseEnabled(x=False, y=False)
    plot.hideButtons()
    plot.enableAutoRange(x=False)
    plot.setXRange(-HISTORY_SECONDS, 0, padding=0)
    plot.getAxis("bottom").setHeight(22)
    return plot


def _curve(plot: pg.PlotItem, colour: Colour) -> pg.PlotDataItem:
    """A 2 px curve drawn as one path without antialiasing: antialiased curves cost the UI thread
    tens of milliseconds per redraw, and pyqtgraph's segmented-line mode (its default for wide
    pens without antialiasing) passes QPainter.drawLines arguments PySide6 6.12 rejects. NaN
    samples break the line (``connect="finite"``)."""
    return plot.plot(pen=pg.mkPen(colour, width=2), antialias=False, segmentedLineMode="off", connect="finite")
