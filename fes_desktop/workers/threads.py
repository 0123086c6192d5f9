"""Running a worker QObject in its own QThread and stopping it cleanly.

A worker's ``shutdown`` slot releases what it holds and then quits its own thread, so every
request posted before the shutdown is handled first; :func:`join_thread` waits for that.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, QThread

log = logging.getLogger(__name__)

STOP_TIMEOUT_MS = 15_000


def start_thread(worker: QObject, name: str) -> QThread:
    """Move ``worker`` (its signals already connected) to a new running QThread."""
    thread = QThread()
    thread.setObjectName(name)
    worker.moveToThread(thread)
    thread.start()
    return thread


def quit_current_thread() -> None:
    """End the event loop of the thread this runs on (the last thing a worker's shutdown does)."""
    thread = QThread.currentThread()
    if thread is not None:
        thread.quit()


def join_thread(thread: QThread) -> None:
    """Wait for a thread whose worker was asked to shut down."""
    if not thread.wait(STOP_TIMEOUT_MS):
        log.error("worker thread %s did not stop within %d ms", thread.objectName(), STOP_TIMEOUT_MS)


class OneShotRun(QObject):
    """The UI thread's handle on one job (a worker with ``run`` and ``cancel`` slots), in a thread
    of its own that ends when the job does."""

    def __init__(self, worker: QObject, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.worker = worker
        self.thread = QThread()
        self.thread.setObjectName(name)
        worker.moveToThread(self.thread)
        self.thread.started.connect(worker.run)
        self.thread.start()

    def cancel(self) -> None:
        self.worker.cancel()

    def wait(self) -> None:
        join_thread(self.thread)
