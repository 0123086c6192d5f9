"""The UI thread never hangs during a live run: a heartbeat timer on it measures the longest gap.

The bar is a hang a user would see (blocking work on the UI thread: a model load, a detection, a
video decode), not smoothness: how smooth the UI is depends on the machine and its load, and is
measured by ``scripts/ui_stall_bench.py`` (72 ms longest gap, 34 ms p99 over 5 s on this 2-core
machine while two trainings and a test run shared it), not asserted here.
"""

from __future__ import annotations

import gc
import time

from PySide6.QtCore import Qt, QTimer

from tests.desktop.conftest import wait_live

HEARTBEAT_MS = 10
MEASURE_MS = 3000
MAX_STALL_MS = 1000.0


class Heartbeat:
    """Records the longest interval between ticks of a precise QTimer on the UI thread."""

    def __init__(self) -> None:
        self.max_gap_ms = 0.0
        self.ticks = 0
        self._last = time.perf_counter()
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(HEARTBEAT_MS)
        self.timer.timeout.connect(self._tick)

    def start(self) -> None:
        self._last = time.perf_counter()
        self.timer.start()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.max_gap_ms = max(self.max_gap_ms, (now - self._last) * 1000.0)
        self._last = now
        self.ticks += 1


def test_the_ui_thread_never_stalls_during_a_live_run(qtbot, make_window):
    window = make_window()
    window.commands.overlay.trigger()  # the most painting work per frame
    wait_live(qtbot, window, frames=10)  # model loaded, tracker warm

    # The app freezes its start-up heap out of full collections once the first frame shows
    # (fes_desktop.heap). This test process also holds every object the earlier tests left alive
    # (engines, models, windows), which a real app never has; freeze those too, so the measure is
    # the app's steady state and not the size of the test session.
    gc.collect()
    gc.freeze()
    heartbeat = Heartbeat()
    shown_before = window.live_view.frames_shown
    samples_before = window.performance_panel.samples
    try:
        heartbeat.start()
        qtbot.wait(MEASURE_MS)
        heartbeat.timer.stop()
    finally:
        gc.unfreeze()
    shown = window.live_view.frames_shown - shown_before

    print(f"UI thread: max gap {heartbeat.max_gap_ms:.1f} ms over {heartbeat.ticks} ticks; {shown} live frames shown")
    assert shown >= 20  # the live view really ran (the clip plays at 25 fps) while we measured
    assert window.performance_panel.samples > samples_before  # and the plots were updating
    assert heartbeat.ticks >= MEASURE_MS / HEARTBEAT_MS * 0.5
    assert heartbeat.max_gap_ms < MAX_STALL_MS
