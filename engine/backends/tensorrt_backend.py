"""TensorRT backend (TensorRT 10.x Python API): the fastest path on an NVIDIA GPU.

On first use per (model, GPU, TensorRT version, precision) the engine is built from ``model.onnx``:
fp16 where the GPU has fast fp16, one optimisation profile over the batch axis (1 .. ``MAX_BATCH``,
optimised for 1), a per-GPU timing cache that makes later builds of other models faster, and a
progress callback (:class:`BuildProgress`, a ``trt.IProgressMonitor``) that logs phases and lets
a caller show them or cancel. The serialised engine is cached (:mod:`engine.backends.cache`);
later loads deserialise it in well under a second.

Running uses device buffers allocated once per batch size through PyTorch's CUDA allocator and
``execute_async_v3`` on a dedicated stream; a frame costs two copies and no allocation.

``tensorrt`` is imported lazily: this module imports cleanly, and :meth:`TensorRTBackend.available`
is False (with the reason in :meth:`TensorRTBackend.describe`), on machines without it, without
CUDA, with a TensorRT major other than :data:`SUPPORTED_MAJOR` (the ``tensorrt`` extra pins
``tensorrt-cu12`` 10.x), or whose import fails in any way (a broken install). Any exception from
building, loading or running an engine becomes a :class:`BackendError` with TensorRT's reason;
:func:`engine.backends.select.open_backend` then falls back to the next backend and says why.

fp32 engines are built with TF32 cleared, so they compute in true fp32 like the torch and ONNX
Runtime references they are compared with. One process-wide TensorRT logger (:func:`trt_logger`)
serves every builder and runtime and keeps the recent error lines for failure messages. The
engine cache key holds the model hash, GPU, TensorRT version with the CUDA version of the torch
build, precision and the build settings (workspace, batch range, TF32).
"""

from __future__ import annotations

import logging
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import numpy as np

from engine.backends.base import GENERATOR, Backend, check_precision, network_file, register_backend
from engine.backends.cache import ArtifactCache, ArtifactKey, file_sha256, write_atomic
from engine.errors import BackendError, FesError, ModelError, OutputError
from engine.manifest import Manifest

log = logging.getLogger(__name__)

MAX_BATCH = 4
WORKSPACE_BYTES = 2 << 30
SUPPORTED_MAJOR = 10
"""The TensorRT major this backend is written for (BuilderFlag.FP16 and friends went in 11)."""
ENGINE_SUFFIX = ".engine"
TIMING_SUFFIX = ".timing"

ProgressCallback = Callable[[str, int, int], bool]
"""(phase name, steps done, steps in phase) -> keep going; return False to cancel a build."""


_UNAVAILABLE: list[str] = []  # why tensorrt could not be used, filled by _trt()


@lru_cache(maxsize=1)
def _trt() -> Any | None:
    """The tensorrt module, or None (reason in ``_UNAVAILABLE``) when it is missing, broken or
    of an unsupported major. Any exception from the import counts: a damaged install raises
    OSError or FileNotFoundError rather than ImportError."""
    try:
        import tensorrt as trt
    except ImportError:
        _UNAVAILABLE.append("the tensorrt package is not installed (pip install 'fes-desktop[tensorrt]')")
        return None
    except Exception as exc:  # a broken install (missing DLL, bad wheel) must not take the other backends down
        _UNAVAILABLE.append(f"tensorrt is installed but does not import ({type(exc).__name__}: {exc})")
        log.warning("tensorrt does not import: %s", exc)
        return None
    major = str(getattr(trt, "__version__", "0")).split(".")[0]
    if major != str(SUPPORTED_MAJOR):
        _UNAVAILABLE.append(
            f"tensorrt {getattr(trt, '__version__', '?')} is installed; this backend needs {SUPPORTED_MAJOR}.x "
            "(pip install 'fes-desktop[tensorrt]')"
        )
        return None
    return trt


@lru_cache(maxsize=1)
def _cuda_ok() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception as exc:  # a CUDA that cannot start raises from deep inside torch
        log.warning("CUDA is not usable: %s", exc)
        return False


def cuda_variant() -> str:
    """The CUDA version of the torch build that owns the device buffers, e.g. ``cuda12.6``."""
    import torch

    return f"cuda{torch.version.cuda}"


def gpu_name() -> str:
    import torch

    return torch.cuda.get_device_name(torch.cuda.current_device())


def build_settings(precision: str) -> str:
    """What else the engine depends on: workspace, batch range and TF32 (off for fp32)."""
    return f"workspace={WORKSPACE_BYTES};batch=1-{MAX_BATCH};tf32={'off' if precision == 'fp32' else 'on'}"


def runtime_version(trt: Any) -> str:
    """TensorRT's version with the CUDA it runs on, e.g. ``10.13.0+cuda12.6``."""
    return f"{trt.__version__}+{cuda_variant()}"


def engine_key(onnx_path: Path, precision: str, device: str, trt_version: str) -> ArtifactKey:
    """The cache key of a TensorRT engine built from ``onnx_path`` (``trt_version`` as
    :func:`runtime_version` gives it)."""
    return ArtifactKey("tensorrt", file_sha256(onnx_path), device, trt_version, precision, build_settings(precision))


def timing_key(device: str, trt_version: str) -> ArtifactKey:
    """The per-GPU timing cache shared by every model's builds."""
    return ArtifactKey("tensorrt-timing", "", device, trt_version, "any")


def _progress_monitor(trt: Any, callback: ProgressCallback | None) -> Any:
    class BuildProgress(trt.IProgressMonitor):
        """Logs TensorRT's build phases and forwards them to ``callback``, which may cancel."""

        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)
            self._steps: dict[str, int] = {}

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            self._steps[phase_name] = num_steps
            log.info("TensorRT build: %s%s (%d steps)", f"{parent_phase} / " if parent_phase else "", phase_name, num_steps)

        def step_complete(self, phase_name: str, step: int) -> bool:
            if callback is None:
                return True
            return bool(callback(phase_name, step + 1, self._steps.get(phase_name, 0)))

        def phase_finish(self, phase_name: str) -> None:
            self._steps.pop(phase_name, None)

    return BuildProgress()


class _LogSink:
    """Routes TensorRT's log into :mod:`logging` and keeps the latest error lines for messages."""

    KEEP = 50

    def __init__(self) -> None:
        self.errors: list[str] = []

    def record(self, error: str) -> None:
        self.errors.append(error)
        del self.errors[: -self.KEEP]

    def since(self, mark: int) -> list[str]:
        """Error lines recorded after :meth:`mark` returned ``mark``."""
        return self.errors[mark:] if mark <= len(self.errors) else self.errors[-3:]

    def mark(self) -> int:
        return len(self.errors)


_SINK = _LogSink()


@lru_cache(maxsize=1)
def trt_logger() -> Any:
    """The one ``trt.ILogger`` of this process: TensorRT keeps the first logger it is given for
    the process, so per-builder loggers would lose the error text of later builds."""
    trt = _trt()

    class Logger(trt.ILogger):
        def __init__(self) -> None:
            trt.ILogger.__init__(self)

        def log(self, severity: Any, msg: str) -> None:
            if severity in (trt.ILogger.Severity.INTERNAL_ERROR, trt.ILogger.Severity.ERROR):
                _SINK.record(msg)
                log.error("TensorRT: %s", msg)
            elif severity == trt.ILogger.Severity.WARNING:
                log.warning("TensorRT: %s", msg)
            else:
                log.debug("TensorRT: %s", msg)

    return Logger()


_BUILD_LOCK = threading.Lock()


def build_engine(
    onnx_path: Path,
    precision: str,
    *,
    cache: ArtifactCache | None = None,
    progress: ProgressCallback | None = None,
) -> bytes:
    """Serialised engine for ``onnx_path`` in ``precision``, from the cache or built now.

    Raises ModelError when the ONNX file cannot be parsed, BackendError when the build fails for
    any reason (TensorRT's own exceptions, an API this TensorRT lacks, CUDA not starting).
    """
    trt = _trt()
    if trt is None or not _cuda_ok():
        raise BackendError("TensorRT needs the tensorrt package and a CUDA GPU")
    try:
        return _build_engine(trt, onnx_path, precision, cache or ArtifactCache(), progress)
    except FesError:
        raise
    except Exception as exc:  # TensorRT raises TypeError, RuntimeError, AttributeError... for a broken setup
        raise BackendError(f"TensorRT build of {onnx_path.name} ({precision}) failed: {type(exc).__name__}: {exc}") from exc


def _build_engine(trt: Any, onnx_path: Path, precision: str, cache: ArtifactCache, progress: ProgressCallback | None) -> bytes:
    device = gpu_name()
    version = runtime_version(trt)
    key = engine_key(onnx_path, precision, device, version)
    with _BUILD_LOCK:
        cached = cache.get(key, ENGINE_SUFFIX)
        if cached is not None:
            return cached
        logger = trt_logger()
        mark = _SINK.mark()
        builder = trt.Builder(logger)
        network = builder.create_network(0)
        parser = trt.OnnxParser(network, logger)
        if not parser.parse(onnx_path.read_bytes(), str(onnx_path)):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise ModelError(f"{onnx_path}: TensorRT cannot parse the ONNX model ({errors})")
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
        if precision == "fp16":
            config.set_flag(trt.BuilderFlag.FP16)
        else:
            config.clear_flag(trt.BuilderFlag.TF32)
        profile = builder.create_optimization_profile()
        for i in range(network.num_inputs):
            tensor = network.get_input(i)
            rest = tuple(tensor.shape)[1:]
            if any(d < 0 for d in rest):
                raise BackendError(f"{onnx_path}: input {tensor.name} has dynamic non-batch axes {tuple(tensor.shape)}")
            profile.set_shape(tensor.name, (1, *rest), (1, *rest), (MAX_BATCH, *rest))
        config.add_optimization_profile(profile)
        tkey = timing_key(device, version)
        timing = config.create_timing_cache(cache.get(tkey, TIMING_SUFFIX) or b"")
        config.set_timing_cache(timing, ignore_mismatch=False)
        config.progress_monitor = _progress_monitor(trt, progress)
        log.info("building TensorRT %s engine for %s on %s (once per model and GPU)", precision, onnx_path.name, device)
        serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            reason = "; ".join(_SINK.since(mark)[-3:]) or "cancelled or no reason given"
            raise BackendError(f"TensorRT build of {onnx_path.name} ({precision}) failed: {reason}")
        data = bytes(serialized)
        try:
            cache.put(key, ENGINE_SUFFIX, data)
            write_atomic(cache.path(tkey, TIMING_SUFFIX), bytes(config.get_timing_cache().serialize()))
        except (OutputError, OSError) as exc:
            log.warning("TensorRT engine built but not cached (%s); the next start builds it again", exc)
        return data


@register_backend("tensorrt")
class TensorRTBackend(Backend):
    """A deserialised engine with one execution context, device buffers and a CUDA stream."""

    def __init__(self, runtime: Any, engine: Any, precision: str, device: str) -> None:
        import torch

        trt = _trt()
        self.precision = precision
        self.device = device
        self._torch = torch
        self._runtime = runtime
        self._engine = engine
        self._context = engine.create_execution_context()
        self._stream = torch.cuda.Stream()
        self._inputs: list[str] = []
        self._output = ""
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
                self._inputs.append(name)
            elif not self._output:
                self._output = name
        self._dtypes = {n: _torch_dtype(torch, trt, engine.get_tensor_dtype(n)) for n in [*self._inputs, self._output]}
        self._batch = 0
        self._device_buffers: dict[str, Any] = {}
        self._host_output: np.ndarray | None = None
        self._host_pinned: Any = None

    @classmethod
    def available(cls) -> bool:
        return _trt() is not None and _cuda_ok()

    @classmethod
    def describe(cls) -> str:
        trt = _trt()
        if trt is None:
            return _UNAVAILABLE[-1] if _UNAVAILABLE else "tensorrt is not usable"
        if not _cuda_ok():
            return f"tensorrt {trt.__version__} is installed but no CUDA GPU is usable"
        return f"tensorrt {trt.__version__}, {gpu_name()}"

    @classmethod
    def precisions(cls) -> tuple[str, ...]:
        if not cls.available():
            return ()
        return ("fp16", "fp32")

    @classmethod
    def load(
        cls,
        manifest: Manifest,
        folder: str | Path,
        precision: str = "fp16",
        *,
        network: str = GENERATOR,
        threads: int | None = None,
        cache: ArtifactCache | None = None,
        progress: ProgressCallback | None = None,
    ) -> "TensorRTBackend":
        """Build (or take from the cache) and deserialise the engine; ``threads`` is unused on a GPU."""
        if not cls.available():
            raise BackendError("TensorRT needs the tensorrt package and a CUDA GPU")
        check_precision(cls, precision)
        onnx_path = network_file(manifest, folder, network, ".onnx")
        trt = _trt()
        cache = cache or ArtifactCache()
        data = build_engine(onnx_path, precision, cache=cache, progress=progress)
        mark = _SINK.mark()
        try:
            runtime = trt.Runtime(trt_logger())
            engine = runtime.deserialize_cuda_engine(data)
            if engine is None:
                cache.discard(engine_key(onnx_path, precision, gpu_name(), runtime_version(trt)), ENGINE_SUFFIX)
                reason = "; ".join(_SINK.since(mark)) or "unknown"
                raise BackendError(f"cached TensorRT engine for {onnx_path.name} did not load ({reason}); removed, it will be rebuilt")
            return cls(runtime, engine, precision, f"cuda ({gpu_name()})")
        except FesError:
            raise
        except Exception as exc:  # CUDA failing to start, an API this TensorRT lacks, out of memory...
            raise BackendError(f"TensorRT could not load {onnx_path.name} ({precision}): {type(exc).__name__}: {exc}") from exc

    def _allocate(self, shapes: dict[str, tuple[int, ...]]) -> None:
        torch = self._torch
        for name, shape in shapes.items():
            self._context.set_input_shape(name, shape)
        out_shape = tuple(self._context.get_tensor_shape(self._output))
        shapes = {**shapes, self._output: out_shape}
        self._device_buffers = {n: torch.empty(s, dtype=self._dtypes[n], device="cuda") for n, s in shapes.items()}
        for name, buf in self._device_buffers.items():
            self._context.set_tensor_address(name, buf.data_ptr())
        self._host_pinned = torch.empty(out_shape, dtype=torch.float32, pin_memory=True)
        self._host_output = self._host_pinned.numpy()
        self._batch = next(iter(shapes.values()))[0]

    def run(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """Run one batch (at most ``MAX_BATCH``). The returned array is reused by the next call.

        Raises BackendError for any failure, so the guarded backend falls back to the next one.
        """
        try:
            values = {name: inputs[name] for name in self._inputs}
        except KeyError as exc:
            raise BackendError(f"missing input {exc}; the model takes {', '.join(self._inputs)}") from None
        try:
            return self._run(values)
        except FesError:
            raise
        except Exception as exc:  # CUDA errors surface as RuntimeError from torch or TensorRT
            raise BackendError(f"TensorRT run failed: {type(exc).__name__}: {exc}") from exc

    def _run(self, values: dict[str, np.ndarray]) -> np.ndarray:
        """Copy in, execute on the backend's stream, copy out (into the reused pinned buffer)."""
        torch = self._torch
        batch = next(iter(values.values())).shape[0]
        if batch > MAX_BATCH:
            raise BackendError(f"batch {batch} exceeds the engine's profile (max {MAX_BATCH})")
        if batch != self._batch:
            self._allocate({n: tuple(v.shape) for n, v in values.items()})
        with torch.cuda.stream(self._stream):
            for name, value in values.items():
                self._device_buffers[name].copy_(torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32)), non_blocking=False)
            if not self._context.execute_async_v3(self._stream.cuda_stream):
                raise BackendError("TensorRT execution failed")
            self._host_pinned.copy_(self._device_buffers[self._output], non_blocking=True)
        self._stream.synchronize()
        return self._host_output

    def close(self) -> None:
        self._device_buffers.clear()
        self._context = None
        self._engine = None
        self._runtime = None


def _torch_dtype(torch: Any, trt: Any, dtype: Any) -> Any:
    table = {trt.float32: torch.float32, trt.float16: torch.float16, trt.int32: torch.int32}
    try:
        return table[dtype]
    except KeyError:
        raise BackendError(f"TensorRT tensor type {dtype} is not supported by this backend") from None
