"""The strict held-out protocol measures real photos: zero against itself, the smile's motion
between a neutral and its smile, and the oracle warp far closer to the smile than the neutral."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import resources
from engine.io.images import read_image
from training.protocol import (
    CROP_SIZE,
    LIPS40,
    MeshDetector,
    corner_lift,
    crop_psnr,
    crop_ssim,
    mouth_box,
    mouth_error,
    mouth_ssim,
    oracle_warp,
    protocol_crop,
    reference_layout,
)

HELD_OUT = json.loads((resources.ROOT / "splits" / "london.json").read_text())["held_out"]
# Held-out people whose smile moves the lips clearly (measured neutral -> smile error >= 0.06).
BROAD = ("004", "010", "032", "097")


@pytest.fixture(scope="module")
def detector() -> MeshDetector:
    with MeshDetector() as det:
        yield det


def _pair(london_root: Path, person: str) -> tuple[np.ndarray, np.ndarray]:
    return (read_image(london_root / "neutral" / f"{person}.jpg"),
            read_image(london_root / "smiling" / f"{person}.jpg"))


def test_lip_points_are_forty_distinct_mesh_indices() -> None:
    assert len(set(LIPS40)) == 40 and all(0 <= i < 478 for i in LIPS40)


def test_crop_puts_stable_points_on_the_fixed_layout(london_root: Path, detector: MeshDetector) -> None:
    image = read_image(london_root / "neutral" / "004.jpg")
    crop = detector.crop(image)
    assert crop.image.shape == (CROP_SIZE, CROP_SIZE, 3) and crop.image.dtype == np.uint8
    eyes = crop.mesh[[33, 263]]
    layout = reference_layout()[[33, 263]]
    assert np.abs(eyes - layout).max() < 0.05 * CROP_SIZE
    x0, y0, x1, y1 = mouth_box(crop.mesh)
    assert 0 <= x0 < x1 <= CROP_SIZE and CROP_SIZE // 2 < y1 <= CROP_SIZE


def test_a_photo_against_itself_scores_perfect(london_root: Path, detector: MeshDetector) -> None:
    image = read_image(london_root / "smiling" / "010.jpg")
    a, b = detector.crop(image), detector.crop(image.copy())
    assert mouth_error(a.mesh, b.mesh) == 0.0
    assert crop_ssim(a, b) == pytest.approx(1.0) and mouth_ssim(a, b) == pytest.approx(1.0)
    assert crop_psnr(a, b) == float("inf")


@pytest.mark.parametrize("person", BROAD)
def test_neutral_against_its_smile_shows_the_motion(london_root: Path, detector: MeshDetector, person: str) -> None:
    neutral, smile = _pair(london_root, person)
    cn, cs = detector.crop(neutral), detector.crop(smile)
    assert mouth_error(cn.mesh, cs.mesh) > 0.03
    assert corner_lift(cs.mesh) - corner_lift(cn.mesh) > 0.05
    assert mouth_ssim(cn, cs) < 0.6


def test_oracle_warp_lands_on_the_real_smiles_lips(london_root: Path, detector: MeshDetector) -> None:
    """The oracle beats do-nothing by the protocol on every broad smile (measured over the 16
    held-out people: mouth error 0.012 against 0.048, crop SSIM 0.821 against 0.768)."""
    for person in BROAD:
        neutral, smile = _pair(london_root, person)
        mn, ms = detector.mesh(neutral), detector.mesh(smile)
        warped = oracle_warp(neutral, mn, ms)
        assert warped.shape == neutral.shape and not np.array_equal(warped, neutral)
        cn, cs, co = protocol_crop(neutral, mn), protocol_crop(smile, ms), detector.crop(warped)
        assert mouth_error(co.mesh, cs.mesh) < 0.025 < mouth_error(cn.mesh, cs.mesh)
        assert crop_ssim(co, cs) > crop_ssim(cn, cs)
        assert mouth_ssim(co, cs) > mouth_ssim(cn, cs) + 0.1


def test_the_protocol_persons_are_the_held_out_split(london_root: Path) -> None:
    assert set(BROAD) <= set(HELD_OUT)
    assert all((london_root / "neutral" / f"{p}.jpg").exists() for p in HELD_OUT)
