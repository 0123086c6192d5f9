"""engine.backends.select: calibration keeps the fastest backend within tolerance, caches and
reports the choice, honours overrides, and NaN / black output switches precision then backend.

Fake backends wrap ONNX Runtime fp32 on a real (small) model folder and are added to the registry
for one test only (monkeypatch), so their speed and errors are controlled, not measured.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.backends import base
from engine.backends.base import Backend
from engine.backends.onnxruntime_backend import OnnxRuntimeBackend
from engine.backends.select import (
    REDUCED_GAIN,
    Choice,
    GuardedBackend,
    SelectOptions,
    Tolerance,
    calibrate,
    fallback_chain,
    open_backend,
    select_backend,
    ssim,
)
from engine.errors import BackendError
from engine.manifest import Manifest, load_manifest
from tests.engine.test_backends import face_probe, make_model_folder


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FES_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_model_folder(tmp_path_factory.mktemp("select") / "lgan-small")


class Wrapped(Backend):
    """ORT fp32 underneath; subclasses change what ``run`` returns. A repeated input is answered
    from memory, so the fakes are faster than any real backend in calibration."""

    behaviour = "exact"
    offered = ("fp16", "fp32")
    affects_fp32 = False
    loads: list[str] = []

    def __init__(self, inner: OnnxRuntimeBackend, precision: str) -> None:
        self.inner, self.precision, self.device = inner, precision, "cpu"
        self._memo: tuple[int, np.ndarray] | None = None

    @classmethod
    def precisions(cls) -> tuple[str, ...]:
        return cls.offered

    @classmethod
    def load(cls, manifest: Manifest, folder, precision: str = "fp32", *, network: str = "generator", threads=None) -> "Wrapped":
        base.check_precision(cls, precision)
        cls.loads.append(f"{cls.name}-{precision}")
        return cls(OnnxRuntimeBackend.load(manifest, folder, "fp32", network=network), precision)

    def run(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        key = hash(inputs["image"].tobytes())
        if self._memo is None or self._memo[0] != key:
            self._memo = (key, self.inner.run(inputs).copy())
        out = self._memo[1]
        mode = self.behaviour if self.precision != "fp32" or self.affects_fp32 else "exact"
        if mode == "nan":
            return np.full_like(out, np.nan)
        if mode == "black":
            return np.full_like(out, -1.0)
        if mode == "noisy":
            return out + np.random.default_rng(0).normal(0, 0.3, out.shape).astype(np.float32)
        if mode == "slightly-off":
            return out + 1e-3
        return out


def register_fake(
    monkeypatch: pytest.MonkeyPatch, name: str, behaviour: str, offered=("fp16", "fp32"), affects_fp32: bool = False
) -> type[Wrapped]:
    attrs = {"behaviour": behaviour, "offered": offered, "affects_fp32": affects_fp32, "loads": []}
    cls = type(f"Fake_{name}", (Wrapped,), attrs)
    cls.name = name
    base._load_builtin()
    monkeypatch.setitem(base._BACKENDS, name, cls)
    return cls


def test_ssim_is_one_for_identical_images_and_drops_with_noise() -> None:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:64, 0:64]
    img = np.stack([x * 3, y * 3, (x + y) * 2], axis=-1).astype(np.uint8)
    assert ssim(img, img) == pytest.approx(1.0)
    slight = np.clip(img.astype(int) + rng.normal(0, 1, img.shape), 0, 255).astype(np.uint8)
    noisy = np.clip(img.astype(int) + rng.normal(0, 20, img.shape), 0, 255).astype(np.uint8)
    assert 1.0 > ssim(img, slight) > ssim(img, noisy)
    assert ssim(img, noisy) < 0.5


def test_calibration_picks_the_fastest_backend_within_tolerance(model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    register_fake(monkeypatch, "fastnoisy", "noisy")
    register_fake(monkeypatch, "fastgood", "slightly-off")
    manifest = load_manifest(model)
    pairs = [("onnxruntime", "fp32"), ("torch", "fp32"), ("fastnoisy", "fp16"), ("fastgood", "fp16")]
    choice, backend = calibrate(manifest, model, face_probe(manifest), SelectOptions(runs=3), pairs)
    try:
        assert choice.label == "fastgood-fp16" and choice.how == "calibrated"
        assert choice.reference == "onnxruntime-fp32"
        trials = {t.label: t for t in choice.trials}
        assert set(trials) == {f"{n}-{p}" for n, p in pairs}
        assert "SSIM" in trials["fastnoisy-fp16"].rejected or "max-abs" in trials["fastnoisy-fp16"].rejected
        assert trials["fastgood-fp16"].ssim > 0.995 and trials["fastgood-fp16"].max_abs < 0.01
        assert not trials["torch-fp32"].rejected, "PyTorch fp32 agrees with the reference"
        assert "fastnoisy-fp16 rejected" in choice.summary()
        assert backend.label == "fastgood-fp16"
    finally:
        backend.close()


def test_real_candidates_calibrate_and_the_winner_is_within_tolerance(model: Path) -> None:
    manifest = load_manifest(model)
    tolerance = Tolerance()
    choice, backend = calibrate(manifest, model, face_probe(manifest), SelectOptions(runs=2, tolerance=tolerance))
    backend.close()
    winner = next(t for t in choice.trials if t.label == choice.label)
    assert not winner.rejected and winner.ssim >= tolerance.min_ssim and winner.max_abs <= tolerance.max_abs
    fastest = min((t for t in choice.trials if not t.rejected), key=lambda t: t.ms)
    if fastest is not winner:  # only a reduced precision less than 10% faster than an fp32 winner loses
        assert choice.precision == "fp32" and not fastest.label.endswith("fp32")
        assert fastest.ms >= REDUCED_GAIN * winner.ms


def test_the_choice_is_cached_reused_and_overridable(model: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    manifest = load_manifest(model)
    probe = face_probe(manifest)
    options = SelectOptions(runs=1, cache_file=tmp_path / "choices.json")
    first, backend = select_backend(manifest, model, probe, options)
    backend.close()
    assert first.how == "calibrated" and (tmp_path / "choices.json").is_file()

    import engine.backends.select as select_module

    def no_calibration(*args, **kwargs):
        raise AssertionError("a cached choice must not calibrate again")

    monkeypatch.setattr(select_module, "calibrate", no_calibration)
    again, backend = select_backend(manifest, model, probe, options)
    backend.close()
    assert again.how == "cached" and again.label == first.label and again.trials == first.trials

    forced, backend = select_backend(manifest, model, probe, SelectOptions(backend="onnxruntime-int8", cache_file=options.cache_file))
    assert forced.how == "override" and backend.label == "onnxruntime-int8"
    backend.close()
    named, backend = select_backend(manifest, model, probe, SelectOptions(backend="torch", cache_file=options.cache_file))
    assert backend.label == "torch-fp32"
    backend.close()
    with pytest.raises(BackendError, match="known"):
        select_backend(manifest, model, probe, SelectOptions(backend="directml"))

    monkeypatch.undo()
    redone, backend = select_backend(manifest, model, probe, SelectOptions(runs=1, recalibrate=True, cache_file=options.cache_file))
    backend.close()
    assert redone.how == "calibrated"


def test_a_corrupt_cache_file_is_ignored(model: Path, tmp_path: Path) -> None:
    manifest = load_manifest(model)
    cache_file = tmp_path / "choices.json"
    cache_file.write_text("{ not json")
    choice, backend = select_backend(manifest, model, face_probe(manifest), SelectOptions(runs=1, cache_file=cache_file))
    backend.close()
    assert choice.how == "calibrated"
    assert Choice.from_dict(choice.to_dict()) == choice


def test_nan_output_switches_to_fp32_then_to_the_next_backend(model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = register_fake(monkeypatch, "flaky", "nan")
    manifest = load_manifest(model)
    probe = face_probe(manifest)
    statuses: list[str] = []
    guarded = GuardedBackend(fake.load(manifest, model, "fp16"), manifest, model, on_status=statuses.append)
    out = guarded.run(probe)
    assert np.isfinite(out).all()
    assert guarded.label == "flaky-fp32"
    assert statuses == ["flaky-fp16 gave NaN or inf in the output; switched to flaky-fp32"]
    assert guarded.status == statuses[0]
    with OnnxRuntimeBackend.load(manifest, model, "fp32") as ort:
        np.testing.assert_allclose(out, ort.run(probe), atol=1e-6)
    guarded.close()


def test_black_output_in_fp32_moves_to_the_next_backend(model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = register_fake(monkeypatch, "dark", "black", offered=("fp32",), affects_fp32=True)
    manifest = load_manifest(model)
    statuses: list[str] = []
    guarded = GuardedBackend(fake.load(manifest, model, "fp32"), manifest, model, on_status=statuses.append)
    out = guarded.run(face_probe(manifest))
    assert out.max() > -0.98
    assert guarded.label == "onnxruntime-fp32"
    assert statuses == ["dark-fp32 gave all-black output; switched to onnxruntime-fp32"]
    guarded.close()


def test_fallback_chain_and_open_backend_report_why(model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chain = fallback_chain("torch", "bf16")
    assert chain[0] == ("torch", "fp32") and ("onnxruntime", "fp32") in chain
    assert ("torch", "fp32") in fallback_chain("onnxruntime", "fp32")
    assert all(p == "fp32" for _, p in chain)
    statuses: list[str] = []
    backend = open_backend(load_manifest(model), model, "tensorrt", "fp16", on_status=statuses.append)
    backend.close()
    if base.get_backend("tensorrt").available():
        assert backend.label == "tensorrt-fp16" and statuses == []
    else:
        assert backend.label == "onnxruntime-fp32"
        assert statuses and "tensorrt-fp16 unavailable" in statuses[0] and "CUDA" in statuses[0]
