"""Export: ONNX + safetensors + manifest, auxiliary networks, parity, and nothing left on failure."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

from engine.errors import OutputError
from engine.manifest import load_manifest
from training import export as export_module
from training.export import ExportError, export_checkpoint, load_exported, real_batch
from training.trainer import model_from_checkpoint, pair_dataset


@pytest.fixture(scope="module")
def exported(tmp_path_factory, landmarkgan_checkpoint):
    folder = tmp_path_factory.mktemp("export") / "tiny-landmarkgan"
    result = export_checkpoint(landmarkgan_checkpoint, folder, version="0.1.0", licence="test only")
    return folder, result


def test_folder_layout_and_manifest(exported):
    folder, result = exported
    assert sorted(p.name for p in folder.iterdir()) == [
        "landmarks.onnx", "landmarks.safetensors", "manifest.json", "model.onnx", "weights.safetensors"]
    manifest = load_manifest(folder)
    assert manifest == result.manifest
    assert (manifest.family, manifest.image_size, manifest.version, manifest.licence) == ("landmarkgan", 64, "0.1.0", "test only")
    assert manifest.kinds() == ("image", "landmarks", "label_onehot")
    assert manifest.auxiliary == {"landmarks": "landmarks"}
    assert manifest.architecture["ngf"] == 8 and manifest.labels[1] == "happy"
    assert [(n.role, n.family) for n in result.networks] == [("model", "landmarkgan"), ("landmarks", "landmarkgan_landmarks")]
    assert all(n.max_abs_diff <= 1e-3 for n in result.networks)


def test_onnx_matches_pytorch_on_real_pairs_with_any_batch(exported, landmarkgan_checkpoint):
    folder, _ = exported
    model, config, _ = model_from_checkpoint(landmarkgan_checkpoint)
    for net in model.networks().values():
        net.eval()
    batch = real_batch(pair_dataset(config, "held_out"), count=3)
    with torch.no_grad():
        model.set_input(batch)
        inputs = model.generator_inputs()
        expected = model.generator(*inputs).numpy()
    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    feeds = {i.name: t.numpy() for i, t in zip(session.get_inputs(), inputs)}
    got = session.run(None, feeds)[0]
    assert got.shape == (3, 3, 64, 64)
    assert np.abs(got - expected).max() <= 1e-3

    manifest, generator, auxiliary = load_exported(folder)
    with torch.no_grad():
        assert torch.equal(generator(*inputs), torch.from_numpy(expected))
        landmarks = auxiliary["landmarks"](inputs[0], inputs[2], torch.zeros(3, 16))
    assert landmarks.shape == (3, 68, 2)


def test_failed_parity_leaves_nothing(tmp_path, landmarkgan_checkpoint, monkeypatch):
    real = export_module._onnx_outputs
    monkeypatch.setattr(export_module, "_onnx_outputs", lambda *args: real(*args) + 0.01)
    target = tmp_path / "models" / "broken"
    target.parent.mkdir()
    with pytest.raises(ExportError, match="differs from PyTorch by 0.01"):
        export_checkpoint(landmarkgan_checkpoint, target)
    assert list(target.parent.iterdir()) == []


def test_existing_folder_is_not_overwritten_unless_asked(tmp_path, exported, landmarkgan_checkpoint):
    target = tmp_path / "model"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(OutputError):
        export_checkpoint(landmarkgan_checkpoint, target)
    assert [p.name for p in target.iterdir()] == ["keep.txt"]
    export_checkpoint(landmarkgan_checkpoint, target, overwrite=True)
    assert (target / "manifest.json").is_file() and not (target / "keep.txt").exists()
