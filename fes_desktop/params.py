"""Frozen parameter sets the UI swaps into the workers (no Qt)."""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.face.smoothing import OneEuroParams
from engine.geometry.retarget import RegionGains

SMOOTHING_LOOSEST_HZ = 6.0
"""One-Euro ``min_cutoff`` at the lowest non-zero smoothing strength; each half of the slider
divides it by four (strength 0.5 gives the engine's default of 1.5 Hz)."""


def smoothing_params(strength: float) -> OneEuroParams | None:
    """Landmark smoothing for a strength 0..1: 0 is raw landmarks, 1 the steadiest (0.375 Hz)."""
    if strength <= 0.0:
        return None
    default = OneEuroParams()
    return OneEuroParams(min_cutoff=SMOOTHING_LOOSEST_HZ * 0.25 ** (2.0 * min(strength, 1.0)), beta=default.beta, d_cutoff=default.d_cutoff)


@dataclass(frozen=True)
class LiveParams:
    """Applied to the running live pipeline without a restart: mirror the driving frames, the
    retargeting gains per region, the landmark smoothing and whether the target's head follows
    the driver's pose."""

    mirror: bool = True
    gains: RegionGains = field(default_factory=RegionGains)
    smoothing: OneEuroParams | None = field(default_factory=OneEuroParams)
    follow_pose: bool = True
