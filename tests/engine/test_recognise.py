"""Expression recognition: the geometric estimate, TER-GAN's recogniser network, and `fes recognise`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from engine.cli.main import main
from engine.geometry.align import align_face
from engine.geometry.conditions import to_unit_range
from engine.geometry.expressions import ExpressionTemplates, label_fields
from engine.geometry.faceframe import FaceFrame
from engine.geometry.labels import EXPRESSIONS
from engine.io import read_image, write_image
from engine.recognise import GEOMETRY, NETWORK, Recogniser, RecogniserOptions, from_scores, label_scores, recognise
from tests.conftest import held_out_people, london_photo
from tests.engine.trained_models import trained_model


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FES_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def geometric():
    with Recogniser.create() as r:
        yield r


def test_a_scaled_template_is_recognised_with_its_label_and_intensity(tracker):
    face = tracker.detect(read_image(london_photo("087"))).face
    neutral = FaceFrame.of(face.landmarks68).to_face(face.mesh)
    fields = label_fields(ExpressionTemplates.load(), neutral)
    for label in ("happy", "surprise", "anger"):
        result = from_scores(label_scores(0.8 * fields[label], fields))
        assert (result.label, result.method) == (label, GEOMETRY)
        assert result.intensity == pytest.approx(0.8, abs=1e-6) and result.confidence > 0.5  # anger vs sad: 0.54
    still = from_scores(label_scores(np.zeros_like(neutral), fields))
    assert (still.label, still.intensity) == ("neutral", 0.0) and still.confidence > 0.7  # at most 1 / (1 + 7 e^-3)


def test_held_out_smiles_and_neutral_faces_are_told_apart(tracker, geometric):
    """16 held-out people, neutral and smiling photo each: 24 of 32 right (0.75) when measured."""
    right = 0
    people = held_out_people()
    smiles = []
    for person in people:
        for expression, truth in (("neutral", "neutral"), ("smiling", "happy")):
            image = read_image(london_photo(person, expression))
            result = geometric.recognise(tracker.detect(image).face, image)
            assert 0.0 <= result.confidence <= 1.0 and 0.0 <= result.intensity <= 1.5
            right += result.label == truth
            if result.label == "happy" and truth == "happy":
                smiles.append(result.intensity)
    assert right >= 22, f"{right} of {2 * len(people)}"
    # The London smiles are milder than a posed apex grin (happy at intensity 1, whose recipe
    # weighs the London-scale action units 1.8): they read at about 1 / 1.8.
    assert 0.4 < np.mean(smiles) < 0.9


def test_tergan_model_recognises_with_its_recogniser_network(tmp_path_factory, tracker):
    model = trained_model("tergan", tmp_path_factory)
    image = read_image(london_photo("010", "smiling"))
    face = tracker.detect(image).face
    with Recogniser.create(RecogniserOptions(model=str(model), backend="onnxruntime")) as recogniser:
        assert recogniser.method == NETWORK
        result = recogniser.recognise(face, image)
    crop = align_face(image, face.landmarks68, 64).image
    session = ort.InferenceSession(str(model / "recognizer.onnx"), providers=["CPUExecutionProvider"])
    logits = session.run(None, {"image": to_unit_range(crop)[None]})[0][0].astype(np.float64)
    probs = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    assert result.method == NETWORK and result.label == EXPRESSIONS[int(np.argmax(probs))]
    assert result.confidence == pytest.approx(float(probs.max()), abs=1e-5)
    with pytest.raises(ValueError, match="needs the photo"):
        Recogniser.create(RecogniserOptions(model=str(model))).recognise(face)


def test_a_model_without_a_recogniser_falls_back_to_geometry(tmp_path_factory, tracker):
    model = trained_model("g2gan", tmp_path_factory)
    image = read_image(london_photo("010", "smiling"))
    with Recogniser.create(RecogniserOptions(model=str(model))) as recogniser:
        assert recogniser.method == GEOMETRY
        assert recogniser.recognise(tracker.detect(image).face).label == "happy"
    assert recognise(tracker.detect(image).face).label == "happy"


def test_fes_recognise_prints_one_line_per_face(capsys):
    code = main(["recognise", str(london_photo("010")), str(london_photo("010", "smiling"))])
    out, _ = capsys.readouterr()
    lines = out.strip().splitlines()
    assert code == 0 and len(lines) == 2
    assert lines[0].startswith(f"{london_photo('010')} face 0: neutral, intensity 0.00, confidence ")
    assert lines[1].startswith(f"{london_photo('010', 'smiling')} face 0: happy, intensity ") and lines[1].endswith("(geometry)")


def test_fes_recognise_reports_bad_photos_and_goes_on(capsys, tmp_path):
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    code = main(["recognise", str(text), str(london_photo("010", "smiling"))])
    out, err = capsys.readouterr()
    assert code == 1 and "happy" in out
    assert len(err.strip().splitlines()) == 2 and str(text) in err and "1 of 2 photos failed" in err
    code = main(["recognise", str(tmp_path / "missing.jpg")])
    _, err = capsys.readouterr()
    assert code == 1 and len(err.strip().splitlines()) == 1 and err.startswith("fes recognise: error:")


def test_fes_recognise_rejects_an_unknown_model(capsys):
    code = main(["recognise", str(london_photo("010")), "--model", "no-such-model"])
    _, err = capsys.readouterr()
    assert code == 1 and "unknown model 'no-such-model'" in err and len(err.strip().splitlines()) == 1


def test_a_photo_without_a_face_is_one_clear_line(capsys, tmp_path):
    blank = tmp_path / "wall.png"
    write_image(blank, np.full((300, 400, 3), 180, np.uint8))
    code = main(["recognise", str(blank)])
    _, err = capsys.readouterr()
    assert code == 1 and err.strip().splitlines() == ["fes recognise: error: no face found in the image"]


def test_live_reenactment_recognises_the_drivers_smile_against_the_neutral_reference():
    """The bundled clip starts neutral and smiles from 0.6 s to 1.6 s (frame 40 at its peak)."""
    from engine.api import ReenactConfig, Reenactor
    from engine.io import VideoReader
    from resources import SAMPLES

    with VideoReader(SAMPLES / "driving.mp4") as reader:
        frames = [frame for _, _, frame in reader][:45]
    readings = []
    with Reenactor(ReenactConfig(target_image=read_image(SAMPLES / "target_london_007.jpg"), model="warp",
                                 smoothing=None)) as reenactor:
        reenactor.set_neutral(reenactor.track(frames[0], 0.0).face)
        for i, frame in enumerate(frames):
            readings.append(reenactor.recognise(reenactor.track(frame, 40.0 * (i + 1))))
    assert readings[0].label == "neutral"
    assert readings[40].label == "happy" and readings[40].intensity > 0.5
    assert all(r.method == GEOMETRY for r in readings)


def test_clearing_the_neutral_while_a_frame_is_in_flight_keeps_rendering_it():
    """The live pipeline tracks on one thread and renders on another; the app clears the neutral on
    a third. A frame tracked before the clear is still recognised, driven and rendered (it had
    crashed the render thread with an AssertionError), and the next tracked face re-estimates."""
    from engine.api import ReenactConfig, Reenactor
    from engine.io import VideoReader
    from resources import SAMPLES

    with VideoReader(SAMPLES / "driving.mp4") as reader:
        frames = [frame for _, _, frame in reader][:3]
    with Reenactor(ReenactConfig(target_image=read_image(SAMPLES / "target_london_007.jpg"), model="warp",
                                 smoothing=None)) as reenactor:
        reenactor.set_neutral(reenactor.track(frames[0], 0.0).face)
        in_flight = reenactor.track(frames[1], 40.0)
        reenactor.clear_neutral()
        assert reenactor.recognise(in_flight).method == GEOMETRY
        mesh = reenactor.driven_mesh(in_flight)
        assert reenactor.render(in_flight, mesh).shape == reenactor.config.target_image.shape
        assert reenactor.neutral_estimated
        reenactor.track(frames[2], 80.0)
        assert reenactor.recognise(reenactor.track(frames[2], 120.0)).method == GEOMETRY
