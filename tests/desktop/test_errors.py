"""Error dialogs say what happened and what to do, and the app carries on."""

from __future__ import annotations

import numpy as np

from engine.io import write_image
from fes_desktop.sources import DEFAULT_TARGET
from tests.desktop.conftest import RENDER_MS, edit_settings, wait_target


def test_a_photo_without_a_face_keeps_the_current_target(qtbot, make_window, tmp_path):
    window = make_window(edit_settings())
    wait_target(qtbot, window)
    blank = tmp_path / "wall.png"
    write_image(blank, np.full((400, 300, 3), 180, np.uint8))

    window.choose_target(blank)
    qtbot.waitUntil(lambda: len(window.errors.shown) > 0, timeout=RENDER_MS)
    message = window.errors.shown[-1]
    assert message.title == "No face found"
    assert "frontal face" in message.hint
    assert window.target.path == DEFAULT_TARGET  # the photo being edited stays


def test_a_corrupt_model_falls_back_to_the_warp_with_a_notice(qtbot, make_window, tmp_path):
    window = make_window(edit_settings())
    wait_target(qtbot, window)
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "manifest.json").write_text('{"name": "broken", "inputs": [', encoding="utf-8")

    window.choose_model(str(broken))
    qtbot.waitUntil(lambda: len(window.errors.shown) > 0, timeout=RENDER_MS)
    message = window.errors.shown[-1]
    assert message.title == "Model cannot be loaded"
    assert "choose another one in the Model panel" in message.hint
    assert "fell back to the classical warp" in window.notice.text()
    assert window.settings.model.model == "warp"
    assert window.model_panel.model == "warp"
    qtbot.waitUntil(lambda: window.model_info.name == "warp", timeout=RENDER_MS)
