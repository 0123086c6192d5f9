"""Keeps the lips from crossing or collapsing when motion is amplified (region gains up to 200 %).

Works column by column across the mouth in face units (y down): each inner upper-lip point is
paired with the inner lower-lip point below it and with the outer-lip point above (upper lip)
or below (lower lip) it.
"""

from __future__ import annotations

import numpy as np

# (inner upper, inner lower) FaceMesh pairs across the mouth, corner to corner (corners excluded).
INNER_PAIRS = ((191, 95), (80, 88), (81, 178), (82, 87), (13, 14), (312, 317), (311, 402), (310, 318), (415, 324))
# (inner, outer) FaceMesh pairs: each lip's thickness along one column.
UPPER_THICKNESS = ((80, 40), (81, 39), (82, 37), (13, 0), (312, 267), (311, 269), (310, 270))
LOWER_THICKNESS = ((88, 91), (178, 181), (87, 84), (14, 17), (317, 314), (402, 405), (318, 321))
MIN_THICKNESS = 0.3  # fraction of the neutral lip thickness a lip may thin to


def clamp_lips(neutral: np.ndarray, moved: np.ndarray) -> np.ndarray:
    """A copy of ``moved`` (478, 2) face units whose lips neither cross nor thin below
    MIN_THICKNESS of the ``neutral`` (478, 2) face units' lips.

    A crossed pair (lower inner point above the upper one, by more than on the neutral) is closed to
    touching, each side moving half-way; a thinned lip has its outer point pushed back out along y.
    """
    out = np.asarray(moved, dtype=np.float64).copy()
    neutral = np.asarray(neutral, dtype=np.float64)
    for up, low in INNER_PAIRS:
        allowed = max(neutral[up, 1] - neutral[low, 1], 0.0)  # a closed mouth may already touch
        overlap = out[up, 1] - out[low, 1] - allowed
        if overlap > 0:
            out[up, 1] -= overlap / 2
            out[low, 1] += overlap / 2
    for pairs, sign in ((UPPER_THICKNESS, -1.0), (LOWER_THICKNESS, 1.0)):
        for inner, outer in pairs:
            least = MIN_THICKNESS * abs(neutral[outer, 1] - neutral[inner, 1])
            if sign * (out[outer, 1] - out[inner, 1]) < least:
                out[outer, 1] = out[inner, 1] + sign * least
    return out
