"""Freezing the startup heap out of the garbage collector's full passes, for a smooth live UI."""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)

_frozen = False


def freeze_startup_heap() -> None:
    """Move every object alive now (imported modules, loaded models: about 300 000 with torch and
    MediaPipe) into the collector's permanent generation, once the app is up.

    A full (generation 2) collection otherwise walks them all, 130-200 ms during which whichever
    thread triggered it, often the UI thread, stands still; after the freeze a full pass only
    sees what was allocated since. Frozen objects are still freed by reference counting; only
    reference cycles among them stay until exit, and startup objects live that long anyway. No
    collection runs first: that alone would be the 150 ms pause this avoids; freezing is O(1).
    """
    global _frozen
    if _frozen:
        return
    gc.freeze()
    _frozen = True
    log.info("froze %d startup objects out of full garbage collections", gc.get_freeze_count())
