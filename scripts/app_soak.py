"""Memory of the whole app over a long live run: the real window, the bundled defaults.

::

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/app_soak.py --minutes 30 --out soak.json

Starts :class:`fes_desktop.main_window.MainWindow` as ``fes-desktop --screenshot`` does (default
settings, bundled target and driving clip, no camera, nothing saved), keeps it live for
``--minutes`` and samples the process's resident memory, the frames shown and the dropped count
every ``--every`` seconds. Writes the samples as JSON and prints one line per sample.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from engine.cli.bench import rss_mb
from fes_desktop.main_window import MainWindow
from fes_desktop.settings import Settings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--every", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    app = QApplication.instance() or QApplication(sys.argv[:1])
    window = MainWindow(Settings(), store=None, camera_lister=lambda: [])
    window.show()
    start = time.monotonic()
    samples: list[dict[str, float]] = []

    def sample() -> None:
        elapsed = time.monotonic() - start
        live = window.live_view
        stats = live.stats
        row = {
            "minutes": round(elapsed / 60.0, 2),
            "rss_mb": round(rss_mb(), 1),
            "frames_shown": live.frames_shown,
            "dropped": live.dropped,
            "fps": 0.0 if stats is None else round(stats.pipeline.fps, 1),
        }
        samples.append(row)
        print(json.dumps(row), flush=True)
        args.out.write_text(json.dumps(samples, indent=1) + "\n", encoding="utf-8")
        if elapsed >= args.minutes * 60.0:
            window.close()
            app.quit()

    timer = QTimer()
    timer.timeout.connect(sample)
    timer.start(int(args.every * 1000))
    app.exec()
    return 0


if __name__ == "__main__":
    sys.exit(main())
