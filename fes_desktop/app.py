"""``fes-desktop``: start the app, or render a screenshot of it and exit.

::

    fes-desktop                                   # the app, with the saved settings
    fes-desktop --screenshot main.png --frames 30 # bundled defaults, 30 live frames, save, exit 0
    fes-desktop --quit-after 20                   # the app as usual, closed (and saved) after 20 s

``--screenshot`` starts from the default settings (bundled target photo and driving clip, no
camera, nothing saved), waits until ``--frames`` live results were shown, grabs the window
(QWidget.grab) and writes the PNG. It works with ``QT_QPA_PLATFORM=offscreen``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from engine.errors import OutputError
from engine.io import write_image
from fes_desktop.main_window import MainWindow
from fes_desktop.qimage import qimage_to_bgr
from fes_desktop.settings import Settings, SettingsStore, config_dir

log = logging.getLogger(__name__)

LOG_FILE = "fes-desktop.log"
SCREENSHOT_TIMEOUT_S = 120.0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="fes-desktop", description="Facial expression synthesis: live reenactment, photo editing, export.")
    parser.add_argument("--screenshot", type=Path, metavar="PATH", help="start with the bundled defaults, save a PNG of the window after --frames live frames, and exit")
    parser.add_argument("--frames", type=int, default=30, metavar="N", help="live frames to show before the screenshot (default 30)")
    parser.add_argument("--timeout", type=float, default=SCREENSHOT_TIMEOUT_S, metavar="S", help="give up on the screenshot after S seconds (default 120)")
    parser.add_argument("--quit-after", type=float, default=None, metavar="S", help="start as usual (saved settings, log file, cameras) and close normally after S seconds, saving the settings (smoke tests, demos)")
    parser.add_argument("--verbose", action="store_true", help="log debug messages")
    args = parser.parse_args(argv)
    if args.frames < 1:
        parser.error("--frames must be at least 1")
    if args.quit_after is not None and args.quit_after <= 0:
        parser.error("--quit-after must be more than 0 seconds")
    return args


def setup_logging(verbose: bool, log_dir: Path | None) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_dir is not None:
        try:
            log_dir.mkdir(parents=True, exist_ok=True)
            handlers.append(logging.FileHandler(log_dir / LOG_FILE, encoding="utf-8"))
        except OSError as error:
            print(f"fes-desktop: cannot write the log in {log_dir}: {error}", file=sys.stderr)
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's C++ log: warnings and errors only
    setup_logging(args.verbose, None if args.screenshot else config_dir())
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("FES Desktop")
    app.setOrganizationName("fes-desktop")

    if args.screenshot is not None:
        window = MainWindow(Settings(), store=None, camera_lister=lambda: [])
        window.show()
        return _screenshot(app, window, args.screenshot, args.frames, args.timeout)

    window = MainWindow.from_store(SettingsStore())
    window.show()
    if args.quit_after is not None:
        QTimer.singleShot(int(args.quit_after * 1000), window.close)
    return app.exec()


def _screenshot(app: QApplication, window: MainWindow, path: Path, frames: int, timeout_s: float) -> int:
    """Poll until ``frames`` live frames were shown, save the grab, close; the exit code."""
    outcome = {"code": 1}
    waited = {"ms": 0}
    poll_ms = 50

    def poll() -> None:
        waited["ms"] += poll_ms
        if window.live_view.frames_shown >= frames:
            timer.stop()
            outcome["code"] = _save(window, path)
            window.close()
            app.quit()
        elif waited["ms"] >= timeout_s * 1000:
            timer.stop()
            print(f"fes-desktop: only {window.live_view.frames_shown} of {frames} frames within {timeout_s:.0f} s", file=sys.stderr)
            window.close()
            app.quit()

    timer = QTimer()
    timer.timeout.connect(poll)
    timer.start(poll_ms)
    app.exec()
    return outcome["code"]


def _save(window: MainWindow, path: Path) -> int:
    pixmap = window.grab()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_image(path, qimage_to_bgr(pixmap.toImage()))
    except OSError as error:
        print(f"fes-desktop: cannot create {path.parent}: {error.strerror or error}", file=sys.stderr)
        return 1
    except OutputError as error:
        print(f"fes-desktop: {error}", file=sys.stderr)
        return 1
    log.info("screenshot of %d x %d saved to %s", pixmap.width(), pixmap.height(), path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
