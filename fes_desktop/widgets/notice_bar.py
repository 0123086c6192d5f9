"""A dismissible banner above the view for things the user should notice without a dialog
(a fallback to another backend or model, settings that were reset)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QWidget

STYLES = {
    "info": "background:#22384f; color:#e6f0fa; border:1px solid #35597c;",
    "warning": "background:#4d3b12; color:#fff3d6; border:1px solid #8a6a1f;",
    "error": "background:#4f1f1f; color:#ffe3e3; border:1px solid #8c3535;",
}


class NoticeBar(QFrame):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("noticeBar")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 5, 5, 5)
        self._label = QLabel()
        self._label.setWordWrap(True)
        self._label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.setToolTip("Dismiss")
        close.clicked.connect(self.hide)
        layout.addWidget(self._label, 1)
        layout.addWidget(close)
        self.hide()

    def show_notice(self, text: str, level: str = "warning") -> None:
        self.setStyleSheet(f"QFrame#noticeBar {{{STYLES[level]} border-radius:4px;}} QLabel {{background:transparent; border:none;}}")
        self._label.setText(text)
        self.show()

    def text(self) -> str:
        return "" if self.isHidden() else self._label.text()
