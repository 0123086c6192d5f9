"""Error dialogs that say what happened and what to do; they never block the event loop."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

from fes_desktop.errors import UserMessage


class ErrorDialogs:
    """Opens one window-modal message box per distinct problem (a repeating error does not
    stack dialogs) with ``open()``, so the live view keeps running behind it."""

    def __init__(self, parent: QWidget) -> None:
        self._parent = parent
        self._open: dict[tuple[str, str], QMessageBox] = {}
        self.shown: list[UserMessage] = []

    def show(self, message: UserMessage) -> QMessageBox:
        key = (message.title, message.text)
        box = self._open.get(key)
        if box is not None and box.isVisible():
            return box
        box = QMessageBox(QMessageBox.Icon.Warning, message.title, message.text, QMessageBox.StandardButton.Ok, self._parent)
        box.setInformativeText(message.hint)
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda _result, k=key: self._open.pop(k, None))
        self._open[key] = box
        self.shown.append(message)
        box.open()
        return box

    def close_all(self) -> None:
        for box in list(self._open.values()):
            box.close()
        self._open.clear()
