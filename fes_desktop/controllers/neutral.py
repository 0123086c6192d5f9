"""The neutral reference of live mode: capture, refusal with the reason, confirmation, clearing."""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QObject, Qt, Slot
from PySide6.QtWidgets import QMainWindow, QMessageBox

from engine.api import NeutralCheck
from fes_desktop.panels.source_panel import SourcePanel
from fes_desktop.workers.live_worker import LiveClient
from fes_desktop.workers.neutral_score import NeutralScore


class NeutralController(QObject):
    """Routes the Capture / Clear neutral actions to the live worker and its answers to the source
    panel, the status bar and, for a refused capture, a window-modal prompt (``prompt`` while open)
    that keeps the face only when the user says "Use anyway"."""

    def __init__(self, window: QMainWindow, live: LiveClient, panel: SourcePanel, is_live: Callable[[], bool]) -> None:
        super().__init__(window)
        self._window = window
        self._live = live
        self._panel = panel
        self._is_live = is_live
        self.prompt: QMessageBox | None = None
        live.worker.neutral_captured.connect(self._on_captured)
        live.worker.neutral_cleared.connect(self._on_cleared)
        live.worker.neutral_refused.connect(self._on_refused)

    def _status(self, text: str, ms: int) -> None:
        self._window.statusBar().showMessage(text, ms)

    @Slot()
    def capture(self) -> None:
        if not self._is_live():
            self._status("Switch to Live mode (Ctrl+1) to capture the neutral reference.", 5000)
            return
        self._live.capture_neutral()

    @Slot()
    def clear(self) -> None:
        self._live.clear_neutral()

    @Slot(object)
    def _on_captured(self, score: NeutralScore) -> None:
        self._panel.show_neutral(score)
        self._status(f"Neutral reference captured: neutral {score.neutral:.0%}, frontal {score.frontal:.0%}. {score.advice()}", 8000)

    @Slot(object)
    def _on_refused(self, check: NeutralCheck) -> None:
        """Say why the capture is not a usable neutral; keep it only if the user says so."""
        if self.prompt is not None:
            self.prompt.close()
        box = QMessageBox(QMessageBox.Icon.Question, "Neutral reference not captured", check.reason,
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, self._window)
        box.setInformativeText("Capture again with a relaxed, frontal face, or use this one anyway.")
        box.button(QMessageBox.StandardButton.Yes).setText("Use anyway")
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(self._on_prompt_finished)
        self.prompt = box
        self._status(check.reason, 8000)
        box.open()

    @Slot(int)
    def _on_prompt_finished(self, result: int) -> None:
        self.prompt = None
        if result == QMessageBox.StandardButton.Yes:
            self._live.confirm_neutral()

    @Slot()
    def _on_cleared(self) -> None:
        self._panel.clear_neutral()
        self._status("Neutral reference cleared: it is estimated from the next frames.", 5000)
