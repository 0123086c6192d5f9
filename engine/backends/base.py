"""The one interface every inference backend implements, and the registry that names them.

A backend runs one network of a model folder (see :mod:`engine.manifest`)::

    backend = get_backend("onnxruntime").load(manifest, folder, "fp32")
    image = backend.run({"image": x, "heatmap": h})   # (B, 3, N, N) float32 RGB in [-1, 1]

Inputs are float32 arrays with the batch axis first, keyed by the manifest's input names; the
output is float32 whatever precision the backend computes in. A backend declares itself with
:func:`register_backend`; an unknown name raises :class:`BackendError` listing the known ones.
"""

from __future__ import annotations

import logging
import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Callable, ClassVar

import numpy as np

from engine.errors import BackendError, ModelError
from engine.manifest import Manifest, model_file
from engine.nets.registry import Family, get_family

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "fp16", "bf16", "int8")
GENERATOR = "generator"  # the network role of model.onnx / weights.safetensors


class Backend(ABC):
    """A loaded network ready to run; use :meth:`load` on a registered subclass.

    name: registry name, e.g. ``"onnxruntime"``.
    device: where it runs, in words (``"cpu"``, ``"cuda:0 (NVIDIA H100)"``).
    precision: what it computes in, one of :data:`PRECISIONS`.
    """

    name: ClassVar[str] = ""
    device: str
    precision: str

    @classmethod
    def available(cls) -> bool:
        """True when this backend's runtime is installed and usable on this machine."""
        return True

    @classmethod
    def describe(cls) -> str:
        """Where it would run (``"cpu"``, a GPU name), or why it cannot run here."""
        return "cpu"

    @classmethod
    @abstractmethod
    def precisions(cls) -> tuple[str, ...]:
        """Precisions this backend can run on this machine, fastest-to-build first; empty when unavailable."""

    @classmethod
    @abstractmethod
    def load(
        cls,
        manifest: Manifest,
        folder: str | Path,
        precision: str = "fp32",
        *,
        network: str = GENERATOR,
        threads: int | None = None,
    ) -> "Backend":
        """Load ``network`` (``"generator"`` or an auxiliary role of the manifest) in ``precision``.

        threads: CPU threads for the compute kernels; None picks a default that leaves room for
        the capture and tracking threads of a live pipeline.
        Raises :class:`ModelError` for a missing or corrupt file, :class:`BackendError` when this
        backend cannot run the model here (unsupported precision, build failure).
        """

    @abstractmethod
    def run(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """Run one batch; returns the first output as float32, batch axis first.

        The returned array may be a buffer the backend fills again on its next call (no
        allocation per frame): copy it to keep it.
        """

    def close(self) -> None:
        """Release sessions and device memory; the backend cannot run afterwards."""

    def __enter__(self) -> "Backend":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def label(self) -> str:
        """``name-precision``, the key used in reports (e.g. ``onnxruntime-int8``)."""
        return f"{self.name}-{self.precision}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.label} on {self.device}>"


def check_precision(cls: type[Backend], precision: str) -> None:
    if precision not in PRECISIONS:
        raise BackendError(f"unknown precision {precision!r}; known: {', '.join(PRECISIONS)}")
    supported = cls.precisions()
    if precision not in supported:
        raise BackendError(
            f"{cls.name} cannot run {precision} on this machine; it can run: {', '.join(supported) or 'nothing'}"
        )


def network_file(manifest: Manifest, folder: str | Path, network: str, suffix: str) -> Path:
    """The checked ``.onnx`` or ``.safetensors`` file of ``network`` in ``folder``.

    The generator's files are the manifest's ``onnx`` and ``weights``; an auxiliary role ``r``
    has ``<stem>.onnx`` and ``<stem>.safetensors``. Every name is checked by
    :func:`engine.manifest.model_file` (inside the folder, a regular file of bounded size).

    Raises:
        ModelError: an unknown role, or a file that is missing, outside the folder, not a
            regular file or too large.
    """
    if network == GENERATOR:
        name = manifest.onnx if suffix == ".onnx" else manifest.weights
        return model_file(folder, name, "ONNX file" if suffix == ".onnx" else "weights file")
    try:
        stem = manifest.auxiliary[network]
    except KeyError:
        known = ", ".join([GENERATOR, *sorted(manifest.auxiliary)])
        raise ModelError(f"{manifest.name}: no network {network!r}; known: {known}") from None
    return model_file(folder, f"{stem}{suffix}", f"{network} network file")


def network_family(manifest: Manifest, network: str) -> tuple[Family, dict]:
    """The registered family and architecture dict that rebuild ``network``.

    The generator is ``manifest.family``; an auxiliary role ``r`` is the family registered as
    ``<family>_<r>`` (e.g. ``landmarkgan_landmarks``), sharing the manifest's one architecture.
    """
    name = manifest.family if network == GENERATOR else f"{manifest.family}_{network}"
    return get_family(name), manifest.architecture


def default_threads() -> int:
    """Kernel threads for a live app: all cores but one (capture and tracking need it), at most 8."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 2)
    return max(1, min(cores - 1, 8))


_BACKENDS: dict[str, type[Backend]] = {}


def register_backend(name: str) -> Callable[[type[Backend]], type[Backend]]:
    """Class decorator that adds a backend to the registry under ``name``."""

    def wrap(cls: type[Backend]) -> type[Backend]:
        if name in _BACKENDS:
            raise ValueError(f"backend {name!r} registered twice")
        cls.name = name
        _BACKENDS[name] = cls
        return cls

    return wrap


def _load_builtin() -> None:
    # Imported for their @register_backend side effect; each imports its runtime lazily or cheaply.
    from engine.backends import onnxruntime_backend, tensorrt_backend, torch_backend  # noqa: F401


def get_backend(name: str) -> type[Backend]:
    """The backend class registered as ``name``; raises BackendError listing the known names."""
    _load_builtin()
    try:
        return _BACKENDS[name]
    except KeyError:
        raise BackendError(f"unknown backend {name!r}; known: {', '.join(sorted(_BACKENDS))}") from None


def backend_names() -> list[str]:
    """Every registered backend, available here or not, in preference order (TensorRT first)."""
    _load_builtin()
    order = {"tensorrt": 0, "onnxruntime": 1, "torch": 2}
    return sorted(_BACKENDS, key=lambda n: (order.get(n, 9), n))


def available_backends() -> list[str]:
    """Registered backends whose runtime works on this machine, in preference order."""
    return [name for name in backend_names() if _BACKENDS[name].available()]


def describe_backends() -> list[str]:
    """One line per registered backend: device and precisions, or why it is unavailable."""
    lines = []
    for name in backend_names():
        cls = _BACKENDS[name]
        if cls.available():
            lines.append(f"{name:<12} {cls.describe()}, precisions: {', '.join(cls.precisions())}")
        else:
            lines.append(f"{name:<12} unavailable: {cls.describe()}")
    return lines


def candidates() -> list[tuple[str, str]]:
    """Every (backend, precision) pair this machine can run, in preference order."""
    return [(name, precision) for name in available_backends() for precision in _BACKENDS[name].precisions()]
