"""The live panel's "Head follows" checkbox: on by default, reaches the running reenactor, saved."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt

from fes_desktop.settings import SettingsStore
from tests.desktop.conftest import RENDER_MS, wait_live


def test_head_follows_reaches_the_live_reenactor_and_survives_a_restart(qtbot, make_window):
    window = make_window()
    wait_live(qtbot, window, frames=3)
    check = window.expression_panel.follow_pose
    assert check.text() == "Head follows" and check.isChecked()
    worker = window.live.worker
    assert worker._reenactor is not None and worker._reenactor.config.follow_pose

    qtbot.mouseClick(check, Qt.MouseButton.LeftButton, pos=QPoint(8, check.height() // 2))  # on the box
    assert not check.isChecked() and window.settings.expression.follow_pose is False
    qtbot.waitUntil(lambda: worker._reenactor.config.follow_pose is False, timeout=RENDER_MS)
    wait_live(qtbot, window, frames=3)  # still rendering after the switch

    window.close()
    assert SettingsStore().load().settings.expression.follow_pose is False
    again = make_window()
    assert not again.expression_panel.follow_pose.isChecked()
    qtbot.waitUntil(lambda: again.live.worker._reenactor is not None, timeout=RENDER_MS)
    assert again.live.worker._reenactor.config.follow_pose is False
