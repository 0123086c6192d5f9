"""``fes-desktop --screenshot PATH --frames N`` offscreen, as a separate process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from engine.io import read_image

REPO = Path(__file__).resolve().parents[2]


def fes_desktop_command() -> list[str]:
    """The installed console script beside this Python, else the module."""
    script = Path(sys.executable).parent / "fes-desktop"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "fes_desktop.app"]


def test_screenshot_runs_offscreen_and_writes_a_png(tmp_path, config_dir):
    output = tmp_path / "shots" / "main.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "FES_CONFIG_DIR": str(config_dir)}
    done = subprocess.run(
        [*fes_desktop_command(), "--screenshot", str(output), "--frames", "8"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    image = read_image(output)
    assert image.shape[0] >= 600 and image.shape[1] >= 1000
    assert image.std() > 20  # a real window, not a blank grab
    assert not (config_dir / "settings.json").exists()  # screenshots start from defaults and save nothing


def test_bad_arguments_exit_with_a_message():
    done = subprocess.run([*fes_desktop_command(), "--frames", "0"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "--frames must be at least 1" in done.stderr
