"""Eyelids in retargeting: the eye's FaceMesh contours and a blink that comes across whole.

FaceMesh reads a shut eye as still partly open: on eight London dev photos whose lids the engine
closed to 5 % of their gap it reports 37-70 % of the open gap (median 63 %), and half-closed lids
(50 %) as 71-87 %. Copied one to one, a driver's full blink therefore only narrows the target's
eyes. :func:`transfer_lids` measures each driver eye's lid gap against its neutral one and maps it
through :func:`blink_response`: a squint (a gap at or above SQUINT_FLOOR of the neutral) passes
unchanged; below that the gap falls linearly to shut at SHUT_READING. No real blink footage ships
with the project (the bundled clip has none), so these two levels are the engine-made figures
above; they are constants a user's own footage can refine. The target's upper lid is then placed
over its own lower lid at that share of its own neutral gap, so a driver with narrow eyes closes a
target with wide ones completely, and the other way round.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Eye:
    """FaceMesh vertices of one eye: its corners as they lie left and right in the image of an
    upright face (so both eyes' frames point the same way), the lid margins from the left corner to
    the right one (corners excluded, the k-th upper point above the k-th lower one), the iris
    (centre first) and the ring above the upper margin (the k-th above the k-th upper point)."""

    left: int
    right: int
    upper: tuple[int, ...]
    lower: tuple[int, ...]
    iris: tuple[int, ...]
    crease: tuple[int, ...]

    @property
    def loop(self) -> list[int]:
        """The opening's outline: left corner, upper lid, right corner, lower lid back."""
        return [self.left, *self.upper, self.right, *reversed(self.lower)]


EYES = (
    Eye(33, 133, (246, 161, 160, 159, 158, 157, 173), (7, 163, 144, 145, 153, 154, 155), (468, 469, 470, 471, 472),
        (247, 30, 29, 27, 28, 56, 190)),
    Eye(362, 263, (398, 384, 385, 386, 387, 388, 466), (382, 381, 380, 374, 373, 390, 249), (473, 474, 475, 476, 477),
        (414, 286, 258, 257, 259, 260, 467)),
)
SQUINT_FLOOR = 0.8  # a driver gap (share of its neutral gap) at or above this passes unchanged
SHUT_READING = 0.55  # at or below this share FaceMesh is reading shut lids: mapped to shut
BLEND = 0.1  # shares below SQUINT_FLOOR over which the blink placement fades in
# The skin above the margin slides down with a closing lid by this share of the margin's way (the
# lid is a fold, not a sheet pinned at its crease): the lid's band moves rather than stretches.
CREASE_FOLLOW = 0.5


def blink_response(share: np.ndarray | float) -> np.ndarray:
    """Driver lid gap as a share of its neutral gap -> the share the target's lids show (>= 0)."""
    share = np.asarray(share, dtype=np.float64)
    ramp = SQUINT_FLOOR * (share - SHUT_READING) / (SQUINT_FLOOR - SHUT_READING)
    return np.where(share >= SQUINT_FLOOR, share, np.clip(ramp, 0.0, None))


def lid_gap(mesh: np.ndarray, eye: Eye) -> float:
    """Mean distance between the paired upper and lower lid points of ``mesh`` (478, 2)."""
    mesh = np.asarray(mesh, dtype=np.float64)
    return float(np.linalg.norm(mesh[list(eye.upper)] - mesh[list(eye.lower)], axis=1).mean())


def openness(mesh: np.ndarray) -> float:
    """Both eyes' lid gap at their centre over their width, averaged (about 0.3 open, 0 shut)."""
    mesh = np.asarray(mesh, dtype=np.float64)
    values = []
    for eye in EYES:
        mid = len(eye.upper) // 2
        gap = np.linalg.norm(mesh[eye.upper[mid]] - mesh[eye.lower[mid]])
        values.append(gap / max(np.linalg.norm(mesh[eye.left] - mesh[eye.right]), 1e-9))
    return float(np.mean(values))


def transfer_lids(source_neutral: np.ndarray, source: np.ndarray, target_neutral: np.ndarray,
                  target: np.ndarray, gain: float = 1.0) -> np.ndarray:
    """A copy of ``target`` (478, 2) whose upper lids show the driver's blink.

    source_neutral, source: the driver's neutral and current shapes; target_neutral, target: the
    target's neutral and its retargeted shape; all (478, 2) in face units (pose removed). ``gain``
    scales the closing (the eyes' region gain). Eyes the driver only squints (gap at or above
    SQUINT_FLOOR) or opens wider keep the retargeted lids.
    """
    out = np.array(target, dtype=np.float64)
    for eye in EYES:
        neutral_gap = lid_gap(source_neutral, eye)
        if neutral_gap <= 1e-9:
            continue
        share = lid_gap(source, eye) / neutral_gap
        # Squints keep the retargeted lids; the blink's placement takes over within BLEND below.
        weight = float(np.clip((SQUINT_FLOOR - share) / BLEND, 0.0, 1.0))
        if weight == 0.0:
            continue
        shown = float(np.clip(1.0 - gain * (1.0 - blink_response(share)), 0.0, None))
        upper, lower = list(eye.upper), list(eye.lower)
        rest = np.asarray(target_neutral, dtype=np.float64)[upper] - np.asarray(target_neutral, dtype=np.float64)[lower]
        placed = (1.0 - weight) * out[upper] + weight * (out[lower] + shown * rest)
        out[list(eye.crease)] += CREASE_FOLLOW * (placed - out[upper])
        out[upper] = placed
    return out


def close_lids(mesh: np.ndarray, closing: float) -> np.ndarray:
    """A copy of ``mesh`` (478, 2, any units) with both upper lids lowered by ``closing`` (0 open
    .. 1 shut) of the way to the lower lids, their creases following as in :func:`transfer_lids`."""
    out = np.array(mesh, dtype=np.float64)
    for eye in EYES:
        step = closing * (out[list(eye.lower)] - out[list(eye.upper)])
        out[list(eye.upper)] += step
        out[list(eye.crease)] += CREASE_FOLLOW * step
    return out
