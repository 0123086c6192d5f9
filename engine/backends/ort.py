"""The one way the project imports ONNX Runtime: with its telemetry switched off.

ONNX Runtime (1.2x and later, every platform) starts Microsoft's 1DS telemetry when its native
library loads: it writes a device id and an event database under the user's cache folder
(``Microsoft/DeveloperTools/.onnxruntime``) and may send events to a Microsoft host. The
environment variable ``ORT_DISABLE_TELEMETRY`` stops that only if set before the library
loads, and ``disable_telemetry_events()`` turns off what the Python API would log afterwards;
:func:`onnxruntime` does both. Nothing in FES Desktop may reach the network.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType

TELEMETRY_ENV = "ORT_DISABLE_TELEMETRY"


def onnxruntime() -> ModuleType:
    """The ``onnxruntime`` module, imported with its telemetry off (safe to call repeatedly)."""
    if "onnxruntime" not in sys.modules:
        os.environ[TELEMETRY_ENV] = "1"
    import onnxruntime as ort

    ort.disable_telemetry_events()
    return ort
