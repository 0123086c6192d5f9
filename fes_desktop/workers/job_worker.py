"""One file-writing job (an offline export, an animation) run once in its own thread, with
progress, cancel and a single outcome signal (no Qt widgets)."""

from __future__ import annotations

import logging
import threading
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from engine.errors import FesError
from fes_desktop.errors import Context, describe_error
from fes_desktop.workers.threads import quit_current_thread

log = logging.getLogger(__name__)


class Cancelled(Exception):
    """Raised inside a job's loop when the user cancelled (see :meth:`JobWorker.check_cancel`)."""


class JobWorker(QObject):
    """``run`` once (in the job's thread), ``cancel`` from any thread. Subclasses implement
    :meth:`work`, returning the summary ``finished`` carries; ``job.output.path`` names the file
    for the log. Engine errors become ``failed`` with a user message, a cancel ``cancelled``."""

    progress = Signal(int, int)  # frames done, frames expected
    finished = Signal(object)  # the summary
    failed = Signal(object)  # UserMessage
    cancelled = Signal()

    what = "job"  # for the log: "export", "animation"

    def __init__(self, job: Any) -> None:
        super().__init__()
        self.job = job
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    def check_cancel(self) -> None:
        """Raise Cancelled once the user asked to stop."""
        if self._cancel.is_set():
            raise Cancelled

    def work(self) -> object:
        raise NotImplementedError

    @Slot()
    def run(self) -> None:
        try:
            self.finished.emit(self.work())
        except FesError as error:
            self.failed.emit(describe_error(error, Context.EXPORT))
        except Cancelled:
            log.info("%s to %s cancelled; nothing was written", self.what, self.job.output.path)
            self.cancelled.emit()
        finally:
            quit_current_thread()
