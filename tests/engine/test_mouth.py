"""engine.synthesis.mouth: a smile opened by the warp shows separate teeth, not a slab, and no
black outline around them."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from engine.face.ibug68 import MESH_TO_IBUG68
from engine.geometry.expressions import ExpressionTemplates, expression_target
from engine.geometry.faceframe import FaceFrame
from engine.io import read_image
from engine.synthesis.mouth import INNER_LIP_LOOP, LIP_SAMPLES, sample_colour
from engine.synthesis.warp import warp_face
from tests.conftest import london_photo

PEOPLE = ("068", "087", "006")  # light, medium and dark lips


@pytest.fixture(scope="module", params=PEOPLE)
def smile(request, tracker):
    image = read_image(london_photo(request.param))
    face = tracker.detect(image).face
    dst = expression_target(face.mesh, "happy", 1.2, ExpressionTemplates.load())
    return image, face.mesh, dst, warp_face(image, face.mesh, dst).image


def _luma(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)


def _opening(shape: tuple[int, ...], dst: np.ndarray) -> np.ndarray:
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(dst[list(INNER_LIP_LOOP)]).astype(np.int32)], 1)
    return mask.astype(bool)


def test_an_opened_smile_has_no_black_outline_around_the_teeth(smile):
    image, src, dst, out = smile
    iod = FaceFrame.of(src[list(MESH_TO_IBUG68)]).iod
    opening = _opening(out.shape, dst)
    grow = max(2, int(round(0.03 * iod)))
    ring = cv2.dilate(opening.astype(np.uint8), np.ones((2 * grow + 1, 2 * grow + 1), np.uint8)).astype(bool)
    ring &= ~cv2.erode(opening.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    lip = sample_colour(image, src, LIP_SAMPLES)
    lip_luma = float(0.114 * lip[0] + 0.587 * lip[1] + 0.299 * lip[2])
    black = _luma(out)[ring] < 0.35 * lip_luma
    # The old fill left a dark band (cavity plus the stretched lip crease) all round the teeth.
    assert black.mean() < 0.12, f"{black.mean():.0%} of the rim around the opening is near black"


def test_the_teeth_are_separate_and_fill_most_of_a_smile(smile):
    image, src, dst, out = smile
    opening = _opening(out.shape, dst)
    luma = _luma(out)
    skin = _luma(image)[opening].mean()
    bright = luma[opening] > 0.9 * skin
    assert bright.mean() > 0.5, f"teeth cover only {bright.mean():.0%} of the opening"
    # Along the middle of the teeth row, the gaps between teeth show as small dips in brightness.
    upper = dst[[13, 82, 312]].mean(0)
    lower = dst[[14, 87, 317]].mean(0)
    y = int(round(upper[1] + 0.35 * (lower[1] - upper[1])))
    xs = np.flatnonzero(opening[y])
    row = luma[y, xs[0]:xs[-1] + 1]
    middle = row[len(row) // 10: -len(row) // 10]
    dips = [i for i in range(1, len(middle) - 1) if middle[i] < middle[i - 1] and middle[i] <= middle[i + 1]
            and middle[i] < 0.97 * max(middle[max(0, i - 4):i + 5])]
    assert len(dips) >= 3, f"{len(dips)} gaps between teeth in the middle of the row"
