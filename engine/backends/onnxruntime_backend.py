"""ONNX Runtime backend: the portable default (CPU everywhere, CUDA with onnxruntime-gpu).

Precisions:
    fp32  the exported graph as is; CUDAExecutionProvider when onnxruntime-gpu is installed.
    int8  weights quantised by ``onnxruntime.quantization.quantize_dynamic`` (activations
          quantised per batch at run time), built once per model and runtime version and cached
          (:mod:`engine.backends.cache`); CPU only. Whether it keeps quality is decided per model
          by the calibration in :mod:`engine.backends.select`, which rejects it when it does not.

The session is set up for a live app: a bounded intra-op pool, one inter-op thread, and no
busy-wait spinning between runs, so the capture and tracking threads keep their core.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np

from engine.backends.base import Backend, check_precision, default_threads, network_file, register_backend
from engine.backends.cache import ArtifactCache, ArtifactKey, file_sha256
from engine.backends.ort import onnxruntime
from engine.errors import BackendError, ModelError, OutputError
from engine.manifest import Manifest

log = logging.getLogger(__name__)
ort = onnxruntime()

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"


def _session_options(threads: int | None) -> ort.SessionOptions:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or default_threads()
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3
    return opts


def quantized_model(source: Path, cache: ArtifactCache | None = None) -> Path:
    """Path of the int8 dynamic-quantised copy of ``source``, building and caching it on first use."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    cache = cache or ArtifactCache()
    key = ArtifactKey("onnxruntime", file_sha256(source), "cpu", ort.__version__, "int8")
    cached = cache.find(key, ".onnx")
    if cached is not None:
        return cached
    log.info("quantising %s to int8 (once per model)", source.name)
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "model.prepared.onnx"
        out = Path(tmp) / "model.int8.onnx"
        try:
            quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
            quantize_dynamic(prepared, out, weight_type=QuantType.QInt8, op_types_to_quantize=["Conv", "MatMul", "Gemm"])
        except Exception as exc:  # the quantiser raises bare Exceptions for graphs it cannot handle
            raise BackendError(f"int8 quantisation of {source.name} failed: {exc}") from exc
        try:
            return cache.put(key, ".onnx", out.read_bytes())
        except (OutputError, OSError) as exc:
            raise BackendError(f"cannot keep the int8 model in the cache: {exc}") from exc


@register_backend("onnxruntime")
class OnnxRuntimeBackend(Backend):
    """One ``onnxruntime.InferenceSession``; output written into a reused buffer through IO binding."""

    def __init__(self, session: ort.InferenceSession, precision: str, device: str) -> None:
        self.session = session
        self.precision = precision
        self.device = device
        self._input_names = [i.name for i in session.get_inputs()]
        out = session.get_outputs()[0]
        self._output_name = out.name
        self._output_dims = out.shape  # ints, or strings for symbolic axes
        self._outputs: dict[int, np.ndarray] = {}  # batch size -> reused output buffer
        self._binding = session.io_binding() if device == "cpu" else None

    @classmethod
    def describe(cls) -> str:
        gpu = "CUDA for fp32, " if CUDA in ort.get_available_providers() else ""
        return f"onnxruntime {ort.__version__}, {gpu}CPU"

    @classmethod
    def precisions(cls) -> tuple[str, ...]:
        return ("fp32", "int8")

    @classmethod
    def load(
        cls,
        manifest: Manifest,
        folder: str | Path,
        precision: str = "fp32",
        *,
        network: str = "generator",
        threads: int | None = None,
    ) -> "OnnxRuntimeBackend":
        check_precision(cls, precision)
        onnx_path = network_file(manifest, folder, network, ".onnx")
        providers = [CPU]
        if precision == "fp32" and CUDA in ort.get_available_providers():
            providers = [CUDA, CPU]
        model_path = quantized_model(onnx_path) if precision == "int8" else onnx_path
        try:
            session = ort.InferenceSession(str(model_path), _session_options(threads), providers=providers)
        except Exception as exc:  # ORT raises its own pybind classes (InvalidProtobuf, InvalidGraph, Fail)
            raise ModelError(f"{onnx_path}: not a loadable ONNX model ({type(exc).__name__}: {exc})") from exc
        device = "cuda" if session.get_providers()[0] == CUDA else "cpu"
        log.info("onnxruntime %s %s on %s (%s)", onnx_path.name, precision, device, ", ".join(session.get_providers()))
        return cls(session, precision, device)

    def _output_buffer(self, batch: int) -> np.ndarray | None:
        buf = self._outputs.get(batch)
        if buf is None:
            dims = [batch if i == 0 else d for i, d in enumerate(self._output_dims)]
            if not all(isinstance(d, int) for d in dims):
                return None
            buf = self._outputs[batch] = np.empty(dims, dtype=np.float32)
        return buf

    def run(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """Run one batch. The returned array is reused by the next call with the same batch size."""
        try:
            feeds = {name: np.ascontiguousarray(inputs[name], dtype=np.float32) for name in self._input_names}
        except KeyError as exc:
            raise BackendError(f"missing input {exc}; the model takes {', '.join(self._input_names)}") from None
        batch = next(iter(feeds.values())).shape[0]
        out = self._output_buffer(batch) if self._binding is not None else None
        if out is None:
            return np.asarray(self.session.run([self._output_name], feeds)[0], dtype=np.float32)
        binding = self._binding
        for name, value in feeds.items():
            binding.bind_cpu_input(name, value)
        binding.bind_output(self._output_name, "cpu", 0, np.float32, list(out.shape), out.ctypes.data)
        self.session.run_with_iobinding(binding)
        return out

    def close(self) -> None:
        self._binding = None
        self._outputs.clear()
