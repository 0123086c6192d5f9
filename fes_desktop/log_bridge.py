"""Engine warnings (a backend that fell back to another) shown in the UI, from any thread."""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal

WATCHED_LOGGERS = ("engine.backends",)


class LogBridge(QObject):
    """A logging handler's front: ``warning`` is emitted (queued to the UI thread) for every
    WARNING or worse record of :data:`WATCHED_LOGGERS`, whichever thread logged it."""

    warning = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._handler = _Handler(self)
        self._handler.setLevel(logging.WARNING)
        for name in WATCHED_LOGGERS:
            logging.getLogger(name).addHandler(self._handler)

    def detach(self) -> None:
        for name in WATCHED_LOGGERS:
            logging.getLogger(name).removeHandler(self._handler)


class _Handler(logging.Handler):
    def __init__(self, bridge: LogBridge) -> None:
        super().__init__()
        self._bridge = bridge

    def emit(self, record: logging.LogRecord) -> None:
        self._bridge.warning.emit(record.getMessage())
