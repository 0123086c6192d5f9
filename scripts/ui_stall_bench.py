"""The app's UI-thread smoothness during live view: the longest gap of a 10 ms heartbeat timer.

::

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/ui_stall_bench.py --seconds 10

Starts the real window on the bundled defaults with the landmark overlay on (the most painting
per frame), waits for the live view, freezes the start-up heap as the app does, then measures.
A benchmark, not a test: the figure depends on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication

from fes_desktop.main_window import MainWindow
from fes_desktop.settings import Settings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    window = MainWindow(Settings(), store=None, camera_lister=lambda: [])
    window.show()
    window.commands.overlay.trigger()
    gaps: list[float] = []
    last = [time.perf_counter()]
    start: list[float] = []

    def tick() -> None:
        now = time.perf_counter()
        if start:
            gaps.append((now - last[0]) * 1000.0)
            if now - start[0] >= args.seconds:
                heartbeat.stop()
                window.close()
                app.quit()
        elif window.live_view.frames_shown >= 10:
            gc.collect()
            gc.freeze()
            start.append(now)
        last[0] = now

    heartbeat = QTimer()
    heartbeat.setTimerType(Qt.TimerType.PreciseTimer)
    heartbeat.timeout.connect(tick)
    heartbeat.start(10)
    app.exec()
    gaps.sort()
    print(f"UI heartbeat over {args.seconds:.0f} s: max gap {gaps[-1]:.1f} ms, p99 {gaps[int(0.99 * (len(gaps) - 1))]:.1f} ms, "
          f"{window.live_view.frames_shown} live frames shown")
    return 0


if __name__ == "__main__":
    sys.exit(main())
