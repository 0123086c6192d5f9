"""``fes-desktop --screenshot PATH --frames N`` offscreen, as a separate process."""

from __future__ import annotations

import json
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


def test_the_real_start_reads_saved_settings_writes_the_log_lists_cameras_and_saves_on_close(tmp_path, config_dir):
    """``fes-desktop`` itself (not --screenshot): the saved settings are used, the log file fills,
    the camera list is read, and closing saves the settings with the window layout."""
    config_dir.mkdir(parents=True, exist_ok=True)
    saved = {"schema_version": 1, "source": {"kind": "clip", "mirror": False}, "view": {"overlay": True}}
    (config_dir / "settings.json").write_text(json.dumps(saved), encoding="utf-8")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "FES_CONFIG_DIR": str(config_dir)}
    done = subprocess.run([*fes_desktop_command(), "--quit-after", "12"], cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    log_text = (config_dir / "fes-desktop.log").read_text(encoding="utf-8")
    assert "cameras: " in log_text and "live: " in log_text
    after = json.loads((config_dir / "settings.json").read_text(encoding="utf-8"))
    assert after["source"]["mirror"] is False and after["view"]["overlay"] is True
    assert after["window"]["geometry"] and after["window"]["state"]  # saved on the normal close
