"""engine.backends: every backend here agrees with PyTorch fp32; bad files fail clearly; caches key and reuse.

The model folders are built in tmp_path from real engine.nets families (small configs, fixed-seed
PyTorch-default weights so outputs span a real range), exported to ONNX the way a model ships.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from engine.backends.base import available_backends, candidates, get_backend
from engine.backends.cache import ArtifactCache, ArtifactKey, file_sha256
from engine.backends.onnxruntime_backend import quantized_model
from engine.backends.torch_backend import TorchBackend, cpu_has_bf16
from engine.errors import BackendError, ModelError
from engine.geometry.align import canonical68
from engine.geometry.conditions import heatmap1, heatmaps68, label_maps, landmark_image, to_unit_range
from engine.geometry.labels import EXPRESSIONS
from engine.manifest import Manifest, load_manifest
from engine.nets.registry import get_family
from engine.synthesis.neural_crop import NeuralGenerator, _Inputs, default_probe, fill_inputs, probe_inputs

SMALL_LGAN = {"image_size": 32, "ngf": 4, "n_blocks": 1}
SMALL_LANDMARKGAN = {"image_size": 32, "ngf": 4, "image_embedding": 16, "label_embedding": 8}


def _export(net: torch.nn.Module, family_name: str, path: Path, size: int) -> None:
    specs = get_family(family_name).inputs
    def dummy(s):
        if s.kind in ("label_onehot", "noise"):
            return torch.zeros(1, s.channels)
        return torch.zeros(1, s.channels, 2) if s.kind == "landmarks" else torch.zeros(1, s.channels, size, size)

    args = tuple(dummy(s) for s in specs)
    names = [s.name for s in specs]
    with warnings.catch_warnings():  # the TorchScript exporter's deprecation and constant-folding notes
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net,
            args,
            str(path),
            input_names=names,
            output_names=["output"],
            dynamic_axes={n: {0: "batch"} for n in [*names, "output"]},
            opset_version=17,
            dynamo=False,
        )


def _build(family_name: str, architecture: dict, seed: int) -> torch.nn.Module:
    family = get_family(family_name)
    torch.manual_seed(seed)
    net = family.build(family.config_from_dict(architecture))
    for module in net.modules():  # He init: unlike pix2pix's N(0, 0.02) the output spans [-1, 1]
        if isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear)):
            torch.nn.init.kaiming_normal_(module.weight, a=0.2)
            if module.bias is not None:
                torch.nn.init.normal_(module.bias, 0.0, 0.1)
    return net.eval()


def make_model_folder(folder: Path, family: str = "lgan", architecture: dict | None = None, seed: int = 0) -> Path:
    """A complete model folder (manifest.json, model.onnx, weights.safetensors, auxiliaries)."""
    architecture = dict(SMALL_LGAN if architecture is None else architecture)
    folder.mkdir(parents=True, exist_ok=True)
    net = _build(family, architecture, seed)
    size = net.config.image_size
    _export(net, family, folder / "model.onnx", size)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(folder / "weights.safetensors"))
    auxiliary = {}
    if family == "landmarkgan":
        aux = _build("landmarkgan_landmarks", architecture, seed + 1)
        _export(aux, "landmarkgan_landmarks", folder / "landmarks.onnx", size)
        save_file({k: v.contiguous() for k, v in aux.state_dict().items()}, str(folder / "landmarks.safetensors"))
        auxiliary = {"landmarks": "landmarks"}
    fam = get_family(family)
    manifest = Manifest(
        name=f"test-{family}",
        family=family,
        paper=fam.paper,
        version="0-test",
        image_size=size,
        inputs=fam.inputs,
        architecture=dataclasses.asdict(net.config),
        labels=EXPRESSIONS,
        auxiliary=auxiliary,
    )
    (folder / "manifest.json").write_text(manifest.to_json(), encoding="utf-8")
    return folder


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("FES_CACHE_DIR", str(cache))
    return cache


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_model_folder(tmp_path_factory.mktemp("lgan") / "lgan-small")


def face_probe(manifest: Manifest) -> dict[str, np.ndarray]:
    """The model's inputs for the bundled real photo (what calibration uses by default)."""
    crop, landmarks = default_probe(manifest.image_size)
    return probe_inputs(manifest, crop, landmarks)


def reference(manifest: Manifest, folder: Path, probe: dict[str, np.ndarray]) -> np.ndarray:
    with TorchBackend.load(manifest, folder, "fp32") as backend:
        return backend.run(probe).copy()


def test_every_available_backend_agrees_with_torch_fp32(model: Path) -> None:
    manifest = load_manifest(model)
    probe = face_probe(manifest)
    expected = reference(manifest, model, probe)
    assert expected.shape == (1, 3, 32, 32)
    assert expected.std() > 0.1, "the test model's output must span a real range"
    checked = []
    for name in available_backends():
        with get_backend(name).load(manifest, model, "fp32") as backend:
            got = backend.run(probe)
            assert got.dtype == np.float32 and got.shape == expected.shape
            np.testing.assert_allclose(got, expected, atol=1e-3, err_msg=backend.label)
            checked.append(backend.label)
    assert {"onnxruntime-fp32", "torch-fp32"} <= set(checked)


def test_batch_axis_is_dynamic(model: Path) -> None:
    manifest = load_manifest(model)
    probe = {k: np.concatenate([v, v[:, ::-1] if v.ndim == 4 else v]) for k, v in face_probe(manifest).items()}
    with get_backend("onnxruntime").load(manifest, model, "fp32") as backend:
        out = backend.run(probe).copy()
    assert out.shape[0] == 2
    np.testing.assert_allclose(out, reference(manifest, model, probe), atol=1e-3)


def test_reduced_precisions_stay_close(model: Path) -> None:
    manifest = load_manifest(model)
    probe = face_probe(manifest)
    expected = reference(manifest, model, probe)
    reduced = [(n, p) for n, p in candidates() if p != "fp32"]
    for name, precision in reduced:
        with get_backend(name).load(manifest, model, precision) as backend:
            got = backend.run(probe)
            assert np.isfinite(got).all()
            assert np.abs(got - expected).max() < 0.15, f"{name}-{precision}"


def test_torch_offers_bf16_exactly_where_the_cpu_has_it() -> None:
    if torch.cuda.is_available():
        pytest.skip("CUDA machine: torch offers fp16 instead")
    assert ("bf16" in TorchBackend.precisions()) == cpu_has_bf16()


def test_corrupt_onnx_gives_a_clear_model_error(model: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("manifest.json", "weights.safetensors"):
        (broken / name).write_bytes((model / name).read_bytes())
    (broken / "model.onnx").write_bytes((model / "model.onnx").read_bytes()[:500])
    manifest = load_manifest(broken)
    with pytest.raises(ModelError, match="model.onnx"):
        get_backend("onnxruntime").load(manifest, broken, "fp32")
    (broken / "model.onnx").write_bytes(b"this is not a protobuf")
    with pytest.raises(ModelError, match="not a loadable ONNX model"):
        get_backend("onnxruntime").load(manifest, broken, "fp32")
    (broken / "model.onnx").unlink()
    with pytest.raises(ModelError, match="missing"):
        get_backend("onnxruntime").load(manifest, broken, "fp32")


def test_bad_weights_give_a_clear_model_error(model: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "manifest.json").write_bytes((model / "manifest.json").read_bytes())
    manifest = load_manifest(broken)
    with pytest.raises(ModelError, match="missing"):
        TorchBackend.load(manifest, broken, "fp32")
    (broken / "weights.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(ModelError, match="safetensors"):
        TorchBackend.load(manifest, broken, "fp32")
    save_file({"unrelated": torch.zeros(3)}, str(broken / "weights.safetensors"))
    with pytest.raises(ModelError, match="do not fit"):
        TorchBackend.load(manifest, broken, "fp32")


def test_unknown_backend_and_precision_list_the_known_ones(model: Path) -> None:
    with pytest.raises(BackendError, match="known: .*onnxruntime.*torch"):
        get_backend("openvino")
    with pytest.raises(BackendError, match="fp32"):
        get_backend("onnxruntime").load(load_manifest(model), model, "fp64")
    with pytest.raises(ModelError, match="no network 'landmarks'"):
        get_backend("onnxruntime").load(load_manifest(model), model, "fp32", network="landmarks")


def test_missing_input_is_named(model: Path) -> None:
    manifest = load_manifest(model)
    probe = face_probe(manifest)
    del probe["heatmap"]
    for name in ("onnxruntime", "torch"):
        with get_backend(name).load(manifest, model, "fp32") as backend, pytest.raises(BackendError, match="heatmap"):
            backend.run(probe)


# --- caches -------------------------------------------------------------------------------------


def test_artifact_key_changes_with_every_dependency(model: Path, tmp_path: Path) -> None:
    onnx_hash = file_sha256(model / "model.onnx")
    base = ArtifactKey("tensorrt", onnx_hash, "NVIDIA H100", "10.9.0", "fp16")
    variants = [
        dataclasses.replace(base, model_sha256=file_sha256(model / "weights.safetensors")),
        dataclasses.replace(base, device="NVIDIA GeForce RTX 4090"),
        dataclasses.replace(base, runtime_version="10.10.0"),
        dataclasses.replace(base, precision="fp32"),
        dataclasses.replace(base, runtime_version="10.9.0+cuda13.0"),
        dataclasses.replace(base, settings="workspace=1;batch=1-4;tf32=on"),
    ]
    names = {base.filename(".engine")} | {v.filename(".engine") for v in variants}
    assert len(names) == 7
    assert ArtifactKey("tensorrt", onnx_hash, "NVIDIA H100", "10.9.0", "fp16").digest() == base.digest()
    changed = tmp_path / "changed.onnx"
    changed.write_bytes((model / "model.onnx").read_bytes() + b"\x00")
    assert file_sha256(changed) != onnx_hash


def test_artifact_cache_round_trip_counts_hits(tmp_path: Path) -> None:
    cache = ArtifactCache(tmp_path / "engines")
    key = ArtifactKey("tensorrt", "ab" * 32, "gpu", "10.0", "fp16")
    assert cache.get(key, ".engine") is None and cache.misses == 1
    path = cache.put(key, ".engine", b"engine-bytes")
    assert path.read_bytes() == b"engine-bytes"
    assert '"device": "gpu"' in path.with_name(path.name + ".json").read_text()
    assert cache.get(key, ".engine") == b"engine-bytes" and cache.hits == 1
    assert not list(path.parent.glob("*.tmp*"))
    cache.discard(key, ".engine")
    assert cache.find(key, ".engine") is None


def test_int8_model_is_built_once_and_reused(model: Path, private_cache: Path) -> None:
    cache = ArtifactCache(private_cache / "engines")
    first = quantized_model(model / "model.onnx", cache)
    stamp = first.stat().st_mtime_ns
    second = quantized_model(model / "model.onnx", cache)
    assert first == second and second.stat().st_mtime_ns == stamp
    assert cache.hits == 1 and cache.misses == 1
    assert "onnxruntime-int8" in first.name


def test_tensorrt_is_unavailable_without_cuda_and_says_why(model: Path) -> None:
    cls = get_backend("tensorrt")
    if cls.available():
        pytest.skip("TensorRT works here")
    assert cls.precisions() == ()
    with pytest.raises(BackendError, match="CUDA"):
        cls.load(load_manifest(model), model, "fp16")


@pytest.mark.gpu
def test_tensorrt_agrees_with_torch_and_reuses_its_engine(model: Path, private_cache: Path) -> None:
    cls = get_backend("tensorrt")
    if not cls.available():
        pytest.skip("needs tensorrt and a CUDA GPU")
    manifest = load_manifest(model)
    probe = face_probe(manifest)
    expected = reference(manifest, model, probe)
    with cls.load(manifest, model, "fp32") as backend:
        np.testing.assert_allclose(backend.run(probe), expected, atol=1e-3)
    with cls.load(manifest, model, "fp16") as backend:
        assert np.abs(backend.run(probe) - expected).max() < 0.05
    engines = list((private_cache / "engines").glob("tensorrt-fp16-*.engine"))
    assert len(engines) == 1
    stamp = engines[0].stat().st_mtime_ns
    with cls.load(manifest, model, "fp16"):
        pass
    assert engines[0].stat().st_mtime_ns == stamp


# --- the generator's inputs ---------------------------------------------------------------------


def test_generator_inputs_match_the_condition_functions(model: Path) -> None:
    manifest = load_manifest(model)
    n = manifest.image_size
    rng = np.random.default_rng(3)
    crop = (rng.random((n, n, 3)) * 255).astype(np.uint8)
    landmarks = (canonical68() * n + rng.normal(0, 0.7, (68, 2))).astype(np.float32)
    specs = tuple(get_family("lgan").inputs) + (
        dataclasses.replace(get_family("landmarkgan").inputs[1], name="landmark_image", kind="landmark_image", channels=3),
        get_family("landmarkgan").inputs[2],
        dataclasses.replace(get_family("g2gan").inputs[1], name="single", kind="heatmap1", channels=1),
    )
    inputs = _Inputs(specs, n)
    fill_inputs(inputs, manifest, crop, landmarks, "surprise", 0.7, None)
    a = {k: v[0] for k, v in inputs.arrays.items()}
    np.testing.assert_allclose(a["image"], to_unit_range(crop), atol=1e-6)
    np.testing.assert_allclose(a["heatmap"], heatmaps68(landmarks, n), atol=1e-6)
    np.testing.assert_allclose(a["single"], heatmap1(landmarks, n), atol=1e-6)
    np.testing.assert_allclose(a["labels"], label_maps(EXPRESSIONS.index("surprise"), len(EXPRESSIONS), n, 0.7))
    np.testing.assert_allclose(a["landmark_image"], to_unit_range(landmark_image(crop, landmarks)), atol=1e-6)
    onehot = np.zeros(len(EXPRESSIONS), dtype=np.float32)
    onehot[EXPRESSIONS.index("surprise")] = 0.7
    np.testing.assert_allclose(a["label"], onehot)
    for label, intensity in (("happy", 1.0), ("happy", 0.5), ("surprise", 0.7)):
        fill_inputs(inputs, manifest, crop, landmarks, label, intensity, None)
        expected = label_maps(EXPRESSIONS.index(label), len(EXPRESSIONS), n, intensity)
        np.testing.assert_allclose(inputs.arrays["labels"][0], expected, err_msg=f"{label} {intensity}")
        assert inputs.arrays["label"][0, EXPRESSIONS.index(label)] == pytest.approx(intensity)
        assert np.count_nonzero(inputs.arrays["label"]) == 1


def test_generator_runs_a_model_folder_end_to_end(model: Path) -> None:
    manifest = load_manifest(model)
    n = manifest.image_size
    crop = (np.random.default_rng(1).random((n, n, 3)) * 255).astype(np.uint8)
    landmarks = (canonical68() * n).astype(np.float32)
    with NeuralGenerator.open(model, "onnxruntime") as gen:
        out = gen.generate(crop, landmarks, "happy", 1.0)
        assert out.shape == (n, n, 3) and out.dtype == np.uint8
        assert gen.backend_label == "onnxruntime-fp32" and gen.choice.how == "override"
        with pytest.raises(Exception, match="label-conditioned"):
            gen.generate(crop, landmarks, None)
        with pytest.raises(Exception, match="driven landmarks"):
            gen.generate(crop, None, "happy")
        with pytest.raises(Exception, match=r"\(32, 32, 3\) uint8"):
            gen.generate(crop[:16], landmarks, "happy")
    with NeuralGenerator.open(model, "torch") as gen:
        again = gen.generate(crop, landmarks, "happy", 1.0)
    assert np.abs(again.astype(int) - out.astype(int)).max() <= 1


def test_landmarkgan_predicts_landmarks_when_none_are_given(tmp_path: Path) -> None:
    folder = make_model_folder(tmp_path / "landmarkgan", "landmarkgan", SMALL_LANDMARKGAN)
    n = SMALL_LANDMARKGAN["image_size"]
    crop = (np.random.default_rng(2).random((n, n, 3)) * 255).astype(np.uint8)
    with NeuralGenerator.open(folder, "onnxruntime") as gen:
        assert not gen.needs_landmarks
        predicted = gen.predict_landmarks(crop, "happy", 1.0)
        assert predicted.shape == (68, 2) and (predicted >= 0).all() and (predicted <= n).all()
        from_label = gen.generate(crop, None, "happy", 1.0)
        from_points = gen.generate(crop, predicted, "happy", 1.0)
    np.testing.assert_array_equal(from_label, from_points)
