"""Metrics give known values on known inputs and tell people apart on real photos."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from engine.io.images import read_image
from training.metrics import (
    DlibIdentity,
    MetricError,
    expression_accuracy,
    frechet_distance,
    landmark_error,
    load_classifier,
    psnr,
    psnr_luma,
    rank1,
    ssim,
    ssim_rgb,
    verification_rates,
)
from tests.conftest import london_photo


@pytest.fixture(scope="module")
def photo():
    return read_image(london_photo("001"))[100:356, 128:384].copy()


def test_psnr_known_values(photo):
    shifted = np.clip(photo.astype(np.int16) + 10, 0, 255).astype(np.uint8)
    mse = np.mean((shifted.astype(float) - photo) ** 2)
    assert psnr(photo, shifted) == pytest.approx(10 * math.log10(255**2 / mse), rel=1e-9)
    flat = np.full((8, 8, 3), 100, np.uint8)
    assert psnr(flat, flat + 10) == pytest.approx(10 * math.log10(255**2 / 100))
    assert psnr(photo, photo) == float("inf")


def test_ssim_known_values(photo):
    assert ssim(photo, photo) == pytest.approx(1.0)
    assert ssim(photo, 255 - photo) < 0.0
    noisy = np.clip(photo + np.random.default_rng(0).normal(0, 25, photo.shape), 0, 255).astype(np.uint8)
    assert 0.2 < ssim(photo, noisy) < 0.9


def test_paper2_psnr_is_on_luminance(photo):
    flat = np.full((8, 8, 3), 100, np.uint8)
    assert psnr_luma(flat, flat + 10) == pytest.approx(10 * math.log10(255**2 / 100), rel=1e-3)
    bluer = photo.copy()
    bluer[..., 0] = np.clip(photo[..., 0].astype(np.int16) + 40, 0, 255)
    # A blue cast moves luminance by about 0.114 of its size: paper 2's PSNR barely drops, RGB PSNR does.
    assert psnr_luma(photo, bluer) > psnr(photo, bluer) + 10


def test_paper2_ssim_is_on_colour(photo):
    assert ssim_rgb(photo, photo) == pytest.approx(1.0)
    noisy = photo.copy()
    noise = np.random.default_rng(0).normal(0, 40, photo.shape[:2])
    noisy[..., 2] = np.clip(photo[..., 2] + noise, 0, 255).astype(np.uint8)  # red channel only
    expected = (2.0 + ssim(photo[..., 2], noisy[..., 2])) / 3.0
    assert ssim_rgb(photo, noisy) == pytest.approx(expected) and expected < 0.9


@pytest.fixture(scope="module")
def dlib_identity():
    return DlibIdentity()


def test_dlib_identity_same_person_close_other_people_far(dlib_identity):
    neutral, smiling = read_image(london_photo("001")), read_image(london_photo("001", "smiling"))
    same = dlib_identity.distance(neutral, smiling)
    others = [dlib_identity.distance(neutral, read_image(london_photo(p))) for p in ("002", "004", "005")]
    assert same < 0.6 < min(others)
    assert same < 0.5 * min(others)


def test_landmark_error_normalisations():
    rng = np.random.default_rng(1)
    reference = rng.uniform(20, 100, size=(3, 68, 2))
    reference[:, 36], reference[:, 45] = (40, 50), (90, 50)  # outer eye corners 50 px apart
    predicted = reference + np.array([3.0, 4.0])  # every point 5 px off
    error = landmark_error(predicted, reference, size=128)
    assert error.l2_px256 == pytest.approx(10.0)  # 5 px at 128 px is 10 px at 256 px
    assert error.nme_interocular == pytest.approx(0.1)
    with pytest.raises(MetricError):
        landmark_error(predicted[:, :5], reference, 128)


def test_frechet_distance():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(400, 3))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(a, a + np.array([3.0, 0.0, 4.0])) == pytest.approx(25.0, rel=1e-6)
    few = rng.normal(size=(4, 50))  # singular covariances stay finite
    assert np.isfinite(frechet_distance(few, few + 1.0))


def test_verification_and_rank1():
    genuine = np.array([0.2, 0.3, 0.35, 0.7])
    impostor = np.linspace(0.4, 1.2, 1000)
    rates = verification_rates(genuine, impostor, fars=(0.01, 0.001))
    assert rates["TAR@FAR=0.01"] == 0.75 and rates["TAR@FAR=0.001"] == 0.75
    assert rates["TAR@0.6"] == 0.75 and rates["FAR@0.6"] == pytest.approx(np.mean(impostor < 0.6))
    gallery = np.array([[0.0, 0.0], [1.0, 0.0]])
    assert rank1(np.array([[0.1, 0.0], [0.2, 0.0]]), ["a", "b"], gallery, ["a", "b"]) == 0.5


class MeanColourClassifier(nn.Module):
    """Class 1 (happy) for images brighter than the threshold, else class 0 (neutral)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bright = x.mean(dim=(1, 2, 3), keepdim=False)
        return torch.stack([-bright, bright, -torch.ones_like(bright)], dim=1)


def test_expression_accuracy_with_a_supplied_classifier(tmp_path, photo):
    dark, light = photo // 4, 255 - photo // 4
    path = tmp_path / "classifier.pt2"
    torch.export.save(torch.export.export(MeanColourClassifier(), (torch.zeros(2, 3, 64, 64),),
                                          dynamic_shapes=({0: torch.export.Dim("batch")},)), str(path))
    classifier = load_classifier(path)
    assert expression_accuracy(classifier, [dark, light, light], [0, 1, 0], size=64) == pytest.approx(2 / 3)
    with pytest.raises(MetricError):
        load_classifier(tmp_path / "missing.pt2")
