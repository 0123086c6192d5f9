"""The independent judges read real held-out photos: FER-2013 finds the smiles happier than the
neutrals and reads neutrals as neutral; dlib tells the same person from another."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import resources
from engine.io.images import read_image
from training.judges import MEASURABLE, ExpressionJudge, IdentityJudge, fer_input
from training.protocol import MeshDetector

HELD_OUT = json.loads((resources.ROOT / "splits" / "london.json").read_text())["held_out"]
# Measured with fer 25.10.3's quantised model on the 16 held-out people (mesh box as face box):
# 3 of 16 real smiles read "happy", 11 of 16 neutrals read "neutral", and P(happy) is higher on
# the smile than on the neutral for all 16.
MIN_SMILES_HAPPY = 3
MIN_NEUTRALS_NEUTRAL = 10
MIN_HAPPIER_SMILES = 15


@pytest.fixture(scope="module")
def readings(london_root: Path) -> dict[str, list[dict[str, float]]]:
    judge = ExpressionJudge()
    out: dict[str, list[dict[str, float]]] = {"neutral": [], "smiling": []}
    with MeshDetector() as det:
        for kind in out:
            for person in HELD_OUT:
                image = read_image(london_root / kind / f"{person}.jpg")
                out[kind].append(judge.probabilities(image, det.mesh(image)))
    return out


def test_input_follows_fers_convention(london_root: Path) -> None:
    image = read_image(london_root / "neutral" / "004.jpg")
    with MeshDetector() as det:
        x = fer_input(image, det.mesh(image))
    assert x.shape == (1, 64, 64, 1) and x.dtype == np.float32
    assert -1.0 <= x.min() < 0.0 < x.max() <= 1.0


def test_probabilities_cover_our_measurable_labels(readings: dict[str, list[dict[str, float]]]) -> None:
    probs = readings["neutral"][0]
    assert set(probs) == set(MEASURABLE) and "contempt" not in probs
    assert sum(probs.values()) == pytest.approx(1.0, abs=0.02)


def test_real_smiles_read_happier_than_their_neutrals(readings: dict[str, list[dict[str, float]]]) -> None:
    happier = sum(s["happy"] > n["happy"] for s, n in zip(readings["smiling"], readings["neutral"]))
    assert happier >= MIN_HAPPIER_SMILES
    happy = sum(max(s, key=s.__getitem__) == "happy" for s in readings["smiling"])
    assert happy >= MIN_SMILES_HAPPY


def test_most_neutrals_read_neutral(readings: dict[str, list[dict[str, float]]]) -> None:
    neutral = sum(max(n, key=n.__getitem__) == "neutral" for n in readings["neutral"])
    assert neutral >= MIN_NEUTRALS_NEUTRAL
    assert not any(max(n, key=n.__getitem__) == "happy" for n in readings["neutral"])


def test_label_is_the_most_probable(london_root: Path) -> None:
    image = read_image(london_root / "smiling" / "097.jpg")
    judge = ExpressionJudge()
    with MeshDetector() as det:
        mesh = det.mesh(image)
    probs = judge.probabilities(image, mesh)
    assert judge.label(image, mesh) == max(probs, key=probs.__getitem__) == "happy"


def test_identity_judge_tells_people_apart(london_root: Path) -> None:
    judge = IdentityJudge()
    a_n = read_image(london_root / "neutral" / "004.jpg")
    a_s = read_image(london_root / "smiling" / "004.jpg")
    b_n = read_image(london_root / "neutral" / "010.jpg")
    assert judge.distance(a_n, a_s) < 0.6 < judge.distance(a_n, b_n)


def test_inception_score_on_the_judges_classes(readings: dict[str, list[dict[str, float]]]) -> None:
    """IS-FER (paper 5's IS on the offline expression classifier): 1 for identical readings, the
    class count for certain readings spread over every class, and between for real photos, where
    neutrals and smiles read differently."""
    from training.metrics import MetricError, inception_score

    assert inception_score(np.full((5, 7), 1 / 7)) == pytest.approx(1.0)
    assert inception_score(np.eye(7)) == pytest.approx(7.0, rel=1e-6)
    real = np.array([list(r.values()) for rows in readings.values() for r in rows])
    assert 1.2 < inception_score(real) < 7.0
    with pytest.raises(MetricError):
        inception_score(np.zeros(3))
