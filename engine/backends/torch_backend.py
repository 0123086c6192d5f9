"""PyTorch backend: rebuilds the network from :mod:`engine.nets` and ``weights.safetensors``.

It is the reference the other backends are checked against (fp32) and the fallback when no ONNX
runtime can run a model. The network is built from ``manifest.family`` and
``manifest.architecture`` (an auxiliary network from its own family, see :func:`engine.backends.base.network_family`),
its weights loaded strictly, and run under ``torch.inference_mode`` with channels-last memory.

Precisions:
    fp32  CPU or CUDA.
    bf16  CPU autocast, offered only where the CPU has native bf16 (AMX or AVX512-BF16); on such
          CPUs convolution generators run several times faster than fp32.
    fp16  CUDA, the network converted to half.
"""

from __future__ import annotations

import logging
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from engine.backends.base import GENERATOR, Backend, check_precision, network_family, network_file, register_backend
from engine.errors import BackendError, ModelError
from engine.manifest import Manifest

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


def _torch() -> ModuleType:
    """torch, imported on first use: the module costs ~210 MB of memory, which a session that
    only runs the warp or ONNX Runtime should not pay for listing the backends."""
    import torch

    return torch


@lru_cache(maxsize=1)
def cuda_build() -> bool:
    """True when the installed torch is a CUDA build that may find a GPU, read from its package
    metadata without importing it: CPU wheels carry a ``+cpu`` local version, macOS has no CUDA.
    Once torch is imported (a model opened), its own answer counts."""
    if "torch" in sys.modules:
        return bool(sys.modules["torch"].cuda.is_available())
    try:
        version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        return False
    return sys.platform != "darwin" and "+cpu" not in version


@lru_cache(maxsize=1)
def cpu_has_bf16() -> bool:
    """True when the CPU computes bf16 natively (AMX tiles or AVX512-BF16): the CPU flags where the
    system lists them (Linux), else torch's own reading of the CPU."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return any(flag in flags for flag in BF16_CPU_FLAGS)
    except OSError:
        pass
    return "AMX" in _torch().backends.cpu.get_cpu_capability().upper()


@register_backend("torch")
class TorchBackend(Backend):
    """An ``nn.Module`` in eval mode; inputs in the manifest's order, output copied to a reused buffer."""

    def __init__(self, module: torch.nn.Module, input_names: list[str], precision: str, device: torch.device) -> None:
        torch = _torch()
        self.module = module
        self.precision = precision
        self.torch_device = device
        self.device = str(device) if device.type == "cpu" else f"{device} ({torch.cuda.get_device_name(device)})"
        self._input_names = input_names
        self._outputs: dict[tuple[int, ...], np.ndarray] = {}
        self._dtype = torch.float16 if precision == "fp16" else torch.float32
        self._saved_threads: int | None = None

    @classmethod
    def describe(cls) -> str:
        torch = _torch()
        if torch.cuda.is_available():
            return f"torch {torch.__version__}, {torch.cuda.get_device_name(0)}"
        bf16 = " with native bf16" if cpu_has_bf16() else ""
        return f"torch {torch.__version__}, CPU ({torch.backends.cpu.get_cpu_capability()}){bf16}"

    @classmethod
    def precisions(cls) -> tuple[str, ...]:
        if cuda_build() and _torch().cuda.is_available():
            return ("fp16", "fp32")
        return ("bf16", "fp32") if cpu_has_bf16() else ("fp32",)

    @classmethod
    def load(
        cls,
        manifest: Manifest,
        folder: str | Path,
        precision: str = "fp32",
        *,
        network: str = GENERATOR,
        threads: int | None = None,
    ) -> "TorchBackend":
        """Rebuild and load the network.

        threads: when given, torch's (process-wide) intra-op thread count while this backend is
        open; :meth:`close` restores the previous count.
        """
        check_precision(cls, precision)
        torch = _torch()
        weights_path = network_file(manifest, folder, network, ".safetensors")
        family, architecture = network_family(manifest, network)
        module = family.build(family.config_from_dict(architecture))
        state = _read_weights(weights_path)
        try:
            module.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise ModelError(f"{weights_path}: weights do not fit {family.name} ({exc})") from exc
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        module = module.eval().to(device=device, memory_format=torch.channels_last)
        if precision == "fp16":
            module = module.half()
        names = [spec.name for spec in family.inputs]
        log.info("torch %s %s %s on %s", manifest.name, network, precision, device)
        backend = cls(module, names, precision, device)
        if threads:
            backend._saved_threads = torch.get_num_threads()
            torch.set_num_threads(threads)
        return backend

    def _tensor(self, value: np.ndarray) -> torch.Tensor:
        torch = _torch()
        t = torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32)).to(self.torch_device, self._dtype)
        return t.contiguous(memory_format=torch.channels_last) if t.dim() == 4 else t

    def run(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """Run one batch. The returned array is reused by the next call with the same output shape."""
        try:
            args = [self._tensor(inputs[name]) for name in self._input_names]
        except KeyError as exc:
            raise BackendError(f"missing input {exc}; the model takes {', '.join(self._input_names)}") from None
        torch = _torch()
        with torch.inference_mode():
            if self.precision == "bf16":
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    result = self.module(*args)
            else:
                result = self.module(*args)
        result = result[0] if isinstance(result, (tuple, list)) else result
        shape = tuple(result.shape)
        out = self._outputs.get(shape)
        if out is None:
            out = self._outputs[shape] = np.empty(shape, dtype=np.float32)
        torch.from_numpy(out).copy_(result)
        return out

    def close(self) -> None:
        self._outputs.clear()
        self.module = None  # type: ignore[assignment]
        if self._saved_threads is not None:
            _torch().set_num_threads(self._saved_threads)
            self._saved_threads = None


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(f"{path}: not a readable safetensors file ({exc})") from exc
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
