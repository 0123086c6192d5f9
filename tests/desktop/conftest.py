"""Fixtures for the app's tests: offscreen Qt, a temporary config folder, real windows.

Every window runs the real engine on the bundled photos and driving clip; cameras are injected
(``camera_lister``) so a machine with or without cameras behaves the same.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("GLOG_minloglevel", "2")

from collections.abc import Callable, Iterator  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from fes_desktop.cameras import CameraInfo  # noqa: E402
from fes_desktop.settings import Settings, SettingsStore, ViewSettings  # noqa: E402

STARTUP_MS = 60_000
RENDER_MS = 30_000


@pytest.fixture(autouse=True)
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """FES_CONFIG_DIR points at a fresh folder for every test."""
    folder = tmp_path / "config"
    monkeypatch.setenv("FES_CONFIG_DIR", str(folder))
    return folder


def no_cameras() -> list[CameraInfo]:
    return []


@pytest.fixture
def make_window(qtbot) -> Iterator[Callable[..., object]]:
    """make_window(settings=None, cameras=no_cameras, store=True) -> a shown MainWindow.

    Windows are closed (threads joined) at the end of the test, in reverse order.
    """
    from fes_desktop.main_window import MainWindow

    windows: list[MainWindow] = []

    def make(settings: Settings | None = None, cameras: Callable[[], list[CameraInfo]] = no_cameras, store: bool = True) -> MainWindow:
        settings_store = SettingsStore() if store else None
        if settings is None and settings_store is not None:
            window = MainWindow.from_store(settings_store, camera_lister=cameras)
        else:
            window = MainWindow(settings or Settings(), store=settings_store, camera_lister=cameras)
        qtbot.addWidget(window)
        window.show()
        windows.append(window)
        return window

    yield make
    for window in reversed(windows):
        window.close()


def edit_settings() -> Settings:
    """Defaults, starting in Edit photo mode (the live pipeline stays paused)."""
    return replace(Settings(), view=ViewSettings(mode="edit"))


def wait_live(qtbot, window, frames: int = 5) -> None:
    start = window.live_view.frames_shown
    qtbot.waitUntil(lambda: window.live_view.frames_shown >= start + frames, timeout=STARTUP_MS)


def wait_target(qtbot, window) -> None:
    qtbot.waitUntil(lambda: window.target is not None and window.landmark_panel.document.has_base, timeout=STARTUP_MS)


def wait_edit(qtbot, window, after_serial: int, final: bool = True) -> None:
    """Until an edit result newer than ``after_serial`` (and final, unless told) is shown."""
    qtbot.waitUntil(
        lambda: window.edits.last is not None
        and window.edits.last.serial > after_serial
        and (not final or not window.edits.last.draft)
        and window.edits.last.serial == window.edits.serial,
        timeout=RENDER_MS,
    )


def result_array(window) -> np.ndarray:
    """The full-size result the window shows now (what "Save result image" writes)."""
    assert not window.view.result_pixmap().isNull()
    image = window.current_result()
    assert image is not None
    return image.copy()


def changed(a: np.ndarray, b: np.ndarray, box: tuple[float, float, float, float] | None = None, level: int = 12) -> float:
    """Fraction of pixels (inside ``box`` = (x0, y0, x1, y1), e.g. the face) where any channel
    differs by more than ``level``, 0..1."""
    assert a.shape == b.shape, (a.shape, b.shape)
    if box is not None:
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        a, b = a[max(y0, 0) : y1, max(x0, 0) : x1], b[max(y0, 0) : y1, max(x0, 0) : x1]
    return float((np.abs(a.astype(np.int16) - b.astype(np.int16)).max(axis=2) > level).mean())
