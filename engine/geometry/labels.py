"""The expression labels every part of FES Desktop shares, in this fixed order."""

from __future__ import annotations

from engine.errors import InputError

EXPRESSIONS: tuple[str, ...] = (
    "neutral",
    "happy",
    "sad",
    "surprise",
    "anger",
    "disgust",
    "fear",
    "contempt",
)

MAX_INTENSITY = 1.5


def label_index(name: str) -> int:
    """Index of ``name`` in :data:`EXPRESSIONS`; raises with the valid names listed."""
    key = name.strip().lower()
    if key not in EXPRESSIONS:
        raise InputError(f"unknown expression {name!r}; valid: {', '.join(EXPRESSIONS)}")
    return EXPRESSIONS.index(key)


def check_intensity(value: float) -> float:
    """Return ``value`` if it is a usable intensity (0..1.5), else raise."""
    if not 0.0 <= value <= MAX_INTENSITY:
        raise InputError(f"intensity {value} is out of range; use 0 to {MAX_INTENSITY}")
    return float(value)
