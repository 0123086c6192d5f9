"""engine.backends.tensorrt_backend against a strict stand-in of TensorRT 10's Python API (no GPU).

The stand-in has only what tensorrt 10.x has, with the same names: an attribute the pinned
TensorRT lacks (a TensorRT 11 spelling, a typo) raises AttributeError here as it would on a
user's machine. The real-GPU check is ``test_backends.py::test_tensorrt_agrees_with_torch_...``
(``pytest -m gpu``; README: "Running the GPU test").
"""

from __future__ import annotations

import enum
import sys
import types
from pathlib import Path

import pytest

from engine.backends import tensorrt_backend as trt_backend
from engine.backends.cache import ArtifactCache
from engine.backends.select import open_backend
from engine.errors import BackendError, ModelError
from engine.manifest import load_manifest
from tests.engine.test_backends import make_model_folder


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_model_folder(tmp_path_factory.mktemp("lgan") / "lgan-small")


class BuilderFlag(enum.IntEnum):
    """tensorrt 10's BuilderFlag members this backend may touch (enum: unknown names raise)."""

    FP16 = 0
    BF16 = 1
    INT8 = 2
    TF32 = 7
    STRICT_TYPES = 8


class MemoryPoolType(enum.IntEnum):
    WORKSPACE = 0


def fake_tensorrt(builds: list[dict], version: str = "10.13.0.35", fail_build: Exception | None = None) -> types.ModuleType:
    """A module object with tensorrt 10's names; ``builds`` records each build's flags."""

    class ILogger:
        class Severity(enum.IntEnum):
            INTERNAL_ERROR, ERROR, WARNING, INFO, VERBOSE = range(5)

        def __init__(self) -> None:
            pass

    class IProgressMonitor:
        def __init__(self) -> None:
            pass

    class Tensor:
        __slots__ = ()
        name = "image"
        shape = (-1, 3, 32, 32)

    class Network:
        __slots__ = ()
        num_inputs = 1

        def get_input(self, i: int) -> Tensor:
            return Tensor()

    class Profile:
        __slots__ = ("shapes",)

        def __init__(self) -> None:
            self.shapes = {}

        def set_shape(self, name, lo, opt, hi) -> None:
            self.shapes[name] = (lo, opt, hi)

    class TimingCache:
        __slots__ = ()

        def serialize(self) -> bytes:
            return b"timing"

    class IBuilderConfig:
        """Slots: setting an attribute IBuilderConfig does not have fails, as with pybind11."""

        __slots__ = ("progress_monitor", "flags")

        def __init__(self) -> None:
            self.progress_monitor = None
            self.flags = 1 << BuilderFlag.TF32  # TensorRT enables TF32 by default

        def set_memory_pool_limit(self, pool: MemoryPoolType, size: int) -> None:
            assert isinstance(pool, MemoryPoolType)

        def set_flag(self, flag: BuilderFlag) -> None:
            self.flags |= 1 << BuilderFlag(flag)

        def clear_flag(self, flag: BuilderFlag) -> None:
            self.flags &= ~(1 << BuilderFlag(flag))

        def get_flag(self, flag: BuilderFlag) -> bool:
            return bool(self.flags & (1 << BuilderFlag(flag)))

        def add_optimization_profile(self, profile: Profile) -> int:
            assert profile.shapes["image"] == ((1, 3, 32, 32), (1, 3, 32, 32), (4, 3, 32, 32))
            return 0

        def create_timing_cache(self, data: bytes) -> TimingCache:
            return TimingCache()

        def set_timing_cache(self, cache: TimingCache, ignore_mismatch: bool) -> bool:
            return True

        def get_timing_cache(self) -> TimingCache:
            return TimingCache()

    class Builder:
        __slots__ = ()

        def __init__(self, logger: ILogger) -> None:
            assert isinstance(logger, ILogger)
            if fail_build is not None:
                raise fail_build

        def create_network(self, flags: int) -> Network:
            return Network()

        def create_builder_config(self) -> IBuilderConfig:
            return IBuilderConfig()

        def create_optimization_profile(self) -> Profile:
            return Profile()

        def build_serialized_network(self, network: Network, config: IBuilderConfig) -> bytes:
            monitor = config.progress_monitor
            monitor.phase_start("Building engine", None, 2)
            monitor.step_complete("Building engine", 0)
            monitor.phase_finish("Building engine")
            builds.append({"fp16": config.get_flag(BuilderFlag.FP16), "tf32": config.get_flag(BuilderFlag.TF32)})
            return b"serialized-engine"

    class OnnxParser:
        __slots__ = ()
        num_errors = 0

        def __init__(self, network: Network, logger: ILogger) -> None:
            assert isinstance(logger, ILogger)

        def parse(self, data: bytes, path: str) -> bool:
            return data.startswith(b"\x08")  # an ONNX ModelProto starts with field 1 (ir_version)

    module = types.ModuleType("tensorrt")
    module.__dict__.update(
        __version__=version,
        ILogger=ILogger,
        IProgressMonitor=IProgressMonitor,
        Builder=Builder,
        OnnxParser=OnnxParser,
        MemoryPoolType=MemoryPoolType,
        BuilderFlag=BuilderFlag,
    )
    return module


@pytest.fixture()
def fake_gpu(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Install a stand-in and a fake GPU; yields a function that swaps the stand-in in."""
    monkeypatch.setenv("FES_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(trt_backend, "_cuda_ok", lambda: True)
    monkeypatch.setattr(trt_backend, "gpu_name", lambda: "Fake GPU")
    monkeypatch.setattr(trt_backend, "cuda_variant", lambda: "cuda12.6")

    def use(module: types.ModuleType) -> None:
        monkeypatch.setattr(trt_backend, "_trt", lambda: module)
        trt_backend.trt_logger.cache_clear()

    yield use
    trt_backend.trt_logger.cache_clear()


def test_engines_are_cached_per_precision_and_fp32_clears_tf32(model: Path, tmp_path: Path, fake_gpu, monkeypatch) -> None:
    builds: list[dict] = []
    fake_gpu(fake_tensorrt(builds))
    cache = ArtifactCache(tmp_path / "engines")
    progress: list[tuple[str, int, int]] = []

    def on_progress(phase: str, done: int, total: int) -> bool:
        progress.append((phase, done, total))
        return True

    onnx = model / "model.onnx"
    assert trt_backend.build_engine(onnx, "fp16", cache=cache, progress=on_progress) == b"serialized-engine"
    assert progress == [("Building engine", 1, 2)]
    assert trt_backend.build_engine(onnx, "fp16", cache=cache) == b"serialized-engine"
    assert builds == [{"fp16": True, "tf32": True}], "the second load must reuse the cached engine"
    trt_backend.build_engine(onnx, "fp32", cache=cache)
    assert builds[1] == {"fp16": False, "tf32": False}, "fp32 engines must compute in true fp32"
    assert cache.find(trt_backend.timing_key("Fake GPU", "10.13.0.35+cuda12.6"), trt_backend.TIMING_SUFFIX) is not None
    monkeypatch.setattr(trt_backend, "gpu_name", lambda: "Other GPU")
    trt_backend.build_engine(onnx, "fp16", cache=cache)
    assert len(builds) == 3
    bad = model.parent / "not-onnx.onnx"
    bad.write_bytes(b"garbage")
    with pytest.raises(ModelError, match="cannot parse"):
        trt_backend.build_engine(bad, "fp16", cache=cache)


def test_the_cache_key_holds_the_cuda_variant_and_the_build_settings(model: Path) -> None:
    onnx = model / "model.onnx"
    fp16 = trt_backend.engine_key(onnx, "fp16", "GPU", "10.13.0+cuda12.6")
    assert fp16.settings == trt_backend.build_settings("fp16") and "workspace=" in fp16.settings and "batch=1-4" in fp16.settings
    assert "tf32=off" in trt_backend.build_settings("fp32")
    other_cuda = trt_backend.engine_key(onnx, "fp16", "GPU", "10.13.0+cuda13.0")
    assert fp16.filename(".engine") != other_cuda.filename(".engine")


def test_the_stand_in_rejects_what_tensorrt_10_lacks() -> None:
    trt = fake_tensorrt([])
    with pytest.raises(AttributeError):
        trt.NetworkDefinitionCreationFlag  # noqa: B018 - not used by this backend, so not in the stand-in
    with pytest.raises(AttributeError):
        trt.BuilderFlag.FP8_TYPO  # noqa: B018
    config = trt.Builder(trt.ILogger()).create_builder_config()
    with pytest.raises(AttributeError):
        config.no_such_setting = 1


def test_a_tensorrt_of_another_major_is_unavailable_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    eleven = fake_tensorrt([], version="11.4.0.106")
    del eleven.BuilderFlag  # TensorRT 11 builds fp16 through strongly typed networks instead
    monkeypatch.setitem(sys.modules, "tensorrt", eleven)
    monkeypatch.setattr(trt_backend, "_UNAVAILABLE", [])
    assert trt_backend._trt.__wrapped__() is None
    assert "11.4.0.106" in trt_backend._UNAVAILABLE[-1] and "10.x" in trt_backend._UNAVAILABLE[-1]


def test_a_broken_install_is_unavailable_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    class BrokenFinder:
        """Imports of tensorrt fail the way a damaged Windows install does."""

        def find_spec(self, name, path=None, target=None):
            if name == "tensorrt":
                raise FileNotFoundError("Could not find: nvinfer_10.dll")
            return None

    monkeypatch.delitem(sys.modules, "tensorrt", raising=False)
    monkeypatch.setattr(sys, "meta_path", [BrokenFinder(), *sys.meta_path])
    monkeypatch.setattr(trt_backend, "_UNAVAILABLE", [])
    assert trt_backend._trt.__wrapped__() is None
    assert "does not import" in trt_backend._UNAVAILABLE[-1] and "nvinfer_10.dll" in trt_backend._UNAVAILABLE[-1]


@pytest.mark.parametrize("error", [TypeError("CUDA initialization failure"), AttributeError("no attribute FP16")])
def test_any_build_failure_falls_back_to_the_next_backend(model: Path, fake_gpu, monkeypatch, error: Exception) -> None:
    fake_gpu(fake_tensorrt([], fail_build=error))
    with pytest.raises(BackendError, match=type(error).__name__):
        trt_backend.build_engine(model / "model.onnx", "fp16", cache=ArtifactCache(model.parent / "engines"))
    monkeypatch.setattr(trt_backend.TensorRTBackend, "available", classmethod(lambda cls: True))
    statuses: list[str] = []
    backend = open_backend(load_manifest(model), model, "tensorrt", "fp16", on_status=statuses.append)
    with backend:
        assert backend.name != "tensorrt"
    assert statuses and "tensorrt-fp16 unavailable" in statuses[0] and str(error) in statuses[0]
