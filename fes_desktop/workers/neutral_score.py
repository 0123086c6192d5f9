"""How usable a captured neutral reference is, as the source panel shows it."""

from __future__ import annotations

from dataclasses import dataclass

from engine.api import FRONTAL_MIN, NEUTRAL_MIN


@dataclass(frozen=True)
class NeutralScore:
    """How neutral and frontal the captured reference face is, each 0..1; good when both reach
    the engine's acceptance levels (engine.api.check_neutral)."""

    neutral: float
    frontal: float

    @property
    def good(self) -> bool:
        return self.neutral >= NEUTRAL_MIN and self.frontal >= FRONTAL_MIN

    def advice(self) -> str:
        if self.good:
            return "Good neutral reference."
        parts = []
        if self.neutral < NEUTRAL_MIN:
            parts.append("relax your face (mouth closed, brows at rest)")
        if self.frontal < FRONTAL_MIN:
            parts.append("look straight into the camera")
        return "Kept as you asked; a better one: " + " and ".join(parts) + "."
