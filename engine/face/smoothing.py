"""One-Euro filter (Casiez, Roussel, Vogel, CHI 2012) for landmark jitter in live tracking.

Low speed -> low cutoff (steady points); high speed -> higher cutoff (little lag).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class OneEuroParams:
    """min_cutoff (Hz): smoothing at rest, lower is steadier; beta: how fast the cutoff rises with
    speed, higher follows fast motion better; d_cutoff (Hz): smoothing of the speed estimate."""

    min_cutoff: float = 1.5
    beta: float = 0.05
    d_cutoff: float = 1.0


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """Filters arrays of any fixed shape, element-wise, at irregular timestamps (seconds)."""

    def __init__(self, params: OneEuroParams = OneEuroParams()) -> None:
        self.params = params
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t: float | None = None

    def reset(self) -> None:
        self._x = self._dx = self._t = None

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if self._x is None or self._t is None or t <= self._t:
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), t
            return x.astype(np.float32)
        dt = t - self._t
        p = self.params
        dx = (x - self._x) / dt
        a_d = _alpha(p.d_cutoff, dt)
        self._dx = a_d * dx + (1.0 - a_d) * self._dx
        cutoff = p.min_cutoff + p.beta * np.abs(self._dx)
        a = _alpha(cutoff, dt)
        self._x = a * x + (1.0 - a) * self._x
        self._t = t
        return self._x.astype(np.float32)
