"""A one-slot, newest-wins holder between two threads that never blocks (no Qt)."""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class Mailbox(Generic[T]):
    """``put`` replaces an item nobody took yet; ``take`` empties the slot.

    The producer notifies the consumer only when ``put`` returns False (the slot was empty), so
    however fast it produces, one notification is pending at a time and the consumer always
    gets the newest item. ``replaced`` counts the items that were never taken.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._item: T | None = None
        self._full = False
        self.replaced = 0

    def put(self, item: T) -> bool:
        """Store ``item``; True when it replaced an untaken one (no new notification needed)."""
        with self._lock:
            was_full = self._full
            self._item, self._full = item, True
            if was_full:
                self.replaced += 1
            return was_full

    def take(self) -> T | None:
        """The newest item, or None when the slot is empty."""
        with self._lock:
            item, self._item, self._full = self._item, None, False
            return item

    def clear(self) -> None:
        with self._lock:
            self._item, self._full = None, False
