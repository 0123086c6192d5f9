"""LandmarkGAN at run time: `fes edit --expression` runs stage I (G_l) and stage II draws from its landmarks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from engine.api import Engine, EngineConfig
from engine.cli.main import main
from engine.face.ibug68 import mesh_to_ibug68
from engine.geometry.align import align_face, transform_points
from engine.geometry.conditions import to_unit_range
from engine.geometry.labels import EXPRESSIONS
from engine.io import read_image
from engine.io.landmarks_json import LandmarkEdit
from engine.manifest import load_manifest
from engine.nets.landmarkgan import NOISE_DIM
from tests.conftest import london_photo
from tests.engine.trained_models import trained_model

PHOTO = london_photo("010")


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FES_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trained_model("landmarkgan", tmp_path_factory)


@pytest.fixture(scope="module")
def engine(model: Path):
    with Engine.create(EngineConfig(model=str(model), backend="onnxruntime")) as e:
        yield e


def stage_one(model: Path, image: np.ndarray, landmarks68: np.ndarray, label: str, intensity: float) -> np.ndarray:
    """G_l run straight from landmarks.onnx on the aligned crop: (68, 2) photo pixels."""
    manifest = load_manifest(model)
    n = manifest.image_size
    crop = align_face(image, landmarks68, n)
    onehot = np.zeros((1, len(EXPRESSIONS)), np.float32)
    onehot[0, EXPRESSIONS.index(label)] = intensity
    feeds = {"image": to_unit_range(crop.image)[None], "label": onehot, "noise": np.zeros((1, NOISE_DIM), np.float32)}
    session = ort.InferenceSession(str(model / "landmarks.onnx"), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    points = session.run(None, {k: feeds[k] for k in names})[0][0].reshape(68, 2) * n
    return transform_points(points, crop.inverse)


def test_edit_by_label_reports_the_landmarks_stage_one_generated(engine, model):
    photo = read_image(PHOTO)
    face = engine.detect(photo).face
    result = engine.edit_expression(photo, "happy", 1.0)
    expected = stage_one(model, photo, face.landmarks68, "happy", 1.0)
    np.testing.assert_allclose(result.landmarks68, expected, atol=0.05)
    # Not the template's geometry: the label went through G_l.
    template = mesh_to_ibug68(engine.expression_mesh(face, "happy", 1.0))
    assert np.abs(result.landmarks68 - template).max() > 1.0
    assert result.image.shape == photo.shape and np.abs(result.image.astype(int) - photo).max() > 0


def test_the_label_and_intensity_reach_stage_one(engine, model):
    photo = read_image(PHOTO)
    face = engine.detect(photo).face
    stage = engine.generator.network.auxiliary["landmarks"]
    for label, intensity in (("surprise", 0.7), ("happy", 1.2)):
        result = engine.edit_expression(photo, label, intensity)
        expected = np.zeros(len(EXPRESSIONS), np.float32)
        expected[EXPRESSIONS.index(label)] = intensity
        np.testing.assert_allclose(stage.inputs["label"][0], expected)
        crop = align_face(photo, face.landmarks68, load_manifest(model).image_size).image
        np.testing.assert_allclose(stage.inputs["image"][0], to_unit_range(crop), atol=1e-6)
        np.testing.assert_allclose(result.landmarks68, stage_one(model, photo, face.landmarks68, label, intensity), atol=0.05)


def test_dragged_landmarks_still_drive_stage_two_directly(engine):
    photo = read_image(PHOTO)
    face = engine.detect(photo).face
    edits = [LandmarkEdit(48, float(face.landmarks68[48, 0]), float(face.landmarks68[48, 1] - 6.0))]
    result = engine.edit_landmarks(photo, edits)
    assert result.landmarks68[48, 1] == pytest.approx(face.landmarks68[48, 1] - 6.0, abs=0.5)
    assert engine.generator.last_landmarks68 is None  # stage I did not run


def test_fes_edit_with_a_landmarkgan_model_writes_the_stage_one_render(tmp_path, capsys, model, engine):
    out = tmp_path / "happy.png"
    code = main(["edit", str(PHOTO), "--expression", "happy", "--model", str(model), "--backend", "onnxruntime", "-o", str(out)])
    assert code == 0 and str(out) in capsys.readouterr().out
    expected = engine.edit_expression(read_image(PHOTO), "happy", 1.0).image
    assert np.abs(read_image(out).astype(int) - expected).max() <= 1
