"""Expression removal: G2-GAN's G_R for `fes edit --expression neutral`, and targets neutralised before a transfer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from engine.api import Engine, EngineConfig
from engine.cli.main import main
from engine.face.ibug68 import IBUG_REGIONS, mesh_to_ibug68
from engine.geometry.align import align_face, transform_points
from engine.geometry.conditions import from_unit_range, heatmaps68, to_unit_range
from engine.geometry.faceframe import FaceFrame
from engine.io import read_image
from engine.neutralise import ALREADY_NEUTRAL, REMOVAL_NETWORK, SHAPE_MODEL, neutralise
from engine.synthesis.composite import paste
from engine.synthesis.photo_generators import RenderRequest
from tests.conftest import london_photo
from tests.engine.trained_models import trained_model

PERSON = "010"  # held-out; a broad smile
SMILE = london_photo(PERSON, "smiling")
NEUTRAL = london_photo(PERSON)
MOUTH = list(IBUG_REGIONS["mouth"])


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FES_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def g2gan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trained_model("g2gan", tmp_path_factory)


@pytest.fixture(scope="module")
def g2gan_engine(g2gan: Path):
    with Engine.create(EngineConfig(model=str(g2gan), backend="onnxruntime")) as e:
        yield e


def mouth_error(got68: np.ndarray, want68: np.ndarray) -> float:
    """Mean mouth-landmark distance in inter-ocular distances of ``want68``'s face."""
    frame = FaceFrame.of(want68)
    return float(np.linalg.norm(frame.to_face(got68[MOUTH]) - frame.to_face(want68[MOUTH]), axis=1).mean())


def test_edit_to_neutral_with_a_g2gan_model_runs_the_removal_network(g2gan_engine, g2gan):
    photo = read_image(SMILE)
    face = g2gan_engine.detect(photo).face
    result = g2gan_engine.edit_expression(photo, "neutral", 1.0)
    # G_R straight from removal.onnx: the smiling crop and the heatmaps of its own landmarks.
    n = 64
    crop = align_face(photo, face.landmarks68, n)
    own = transform_points(face.landmarks68, crop.matrix)
    session = ort.InferenceSession(str(g2gan / "removal.onnx"), providers=["CPUExecutionProvider"])
    out = session.run(None, {"image": to_unit_range(crop.image)[None], "heatmap": heatmaps68(own, n)[None]})[0][0]
    driven = transform_points(mesh_to_ibug68(result.mesh), crop.matrix)
    expected = paste(photo, from_unit_range(out), crop, driven)
    assert np.abs(result.image.astype(int) - expected).max() <= 1
    # ... and not the synthesis network G_S asked for the neutral shape.
    synthesis = g2gan_engine.generator.render(RenderRequest(photo, face, result.mesh, "neutral", 1.0))
    x0, y0, x1, y1 = (int(v) for v in face.bbox)
    assert np.abs(synthesis[y0:y1, x0:x1].astype(int) - result.image[y0:y1, x0:x1]).mean() > 0.25


def test_other_labels_with_a_g2gan_model_still_use_the_synthesis_network(g2gan_engine):
    photo = read_image(NEUTRAL)
    face = g2gan_engine.detect(photo).face
    result = g2gan_engine.edit_expression(photo, "happy", 1.0)
    direct = g2gan_engine.render(RenderRequest(photo, face, g2gan_engine.expression_mesh(face, "happy", 1.0), "happy", 1.0))
    assert np.abs(result.image.astype(int) - direct).max() == 0


def test_a_neutral_photo_is_left_as_it_is(engine):
    photo = read_image(NEUTRAL)
    result = neutralise(engine, photo)
    assert result.method == ALREADY_NEUTRAL and not result.changed
    assert result.image is photo


def test_a_smile_is_removed_by_the_shape_model_estimate_without_g2gan(engine):
    photo = read_image(SMILE)
    result = neutralise(engine, photo)
    assert result.method == SHAPE_MODEL and result.before.label == "happy"
    before = engine.detect(photo).face.landmarks68
    after = result.detection.face.landmarks68
    # The mouth corners come down towards the real neutral's.
    real = engine.detect(read_image(NEUTRAL)).face.landmarks68
    frame = FaceFrame.of(before)
    lift = lambda lm: float(frame.to_face(lm[[48, 54]])[:, 1].mean() - frame.to_face(lm[[51, 57]])[:, 1].mean())
    assert lift(before) < lift(after) - 0.03
    assert abs(lift(after) - lift(real)) < abs(lift(before) - lift(real))
    assert np.abs(result.image[:40].astype(int) - photo[:40]).max() == 0  # only the face moved


def test_neutralise_with_g2gan_uses_the_removal_network(g2gan_engine):
    result = neutralise(g2gan_engine, read_image(SMILE))
    assert result.method == REMOVAL_NETWORK and result.changed


def test_transfer_onto_a_smiling_target_does_not_stack_the_smile(tmp_path, capsys, tracker):
    """Source = the person's own smile: the ideal output is that smile; stacking it on the smiling
    target doubles it (measured on the 16 held-out people: mouth error 0.058 IOD stacked, 0.028
    neutralised first). The head stays put (--pose off): the target is the smile photo itself, so
    the source's head motion would move it off the reference the raw landmarks are compared with."""
    real = tracker.detect(read_image(SMILE)).face.landmarks68
    outputs = {}
    for name, extra in (("neutralised", []), ("stacked", ["--keep-target-expression"])):
        out = tmp_path / f"{name}.png"
        code = main(["transfer", "--source", str(SMILE), "--source-neutral", str(NEUTRAL), "--target", str(SMILE),
                     "--pose", "off", "-o", str(out), *extra])
        _, err = capsys.readouterr()
        assert code == 0
        assert ("neutralised first with the shape model's neutral estimate" in err) == (name == "neutralised")
        outputs[name] = mouth_error(tracker.detect(read_image(out)).face.landmarks68, real)
    assert outputs["neutralised"] < 0.6 * outputs["stacked"]
    assert outputs["neutralised"] < 0.04


def test_transfer_with_g2gan_neutralises_the_target_with_g_r(tmp_path, capsys, g2gan):
    out = tmp_path / "g2gan.png"
    code = main(["transfer", "--source", str(london_photo("087", "smiling")), "--target", str(SMILE), "-o", str(out),
                 "--model", str(g2gan), "--backend", "onnxruntime"])
    _, err = capsys.readouterr()
    assert code == 0 and out.is_file()
    assert "neutralised first with G2-GAN's removal network G_R" in err
