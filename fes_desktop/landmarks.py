"""The landmark editor's document: 68 target points = base + offsets moved by hand (no Qt).

``base`` is where the target's iBUG points are under the current expression label (the photo's
own points without one); ``offsets`` are what the user dragged, kept apart so that changing the
label keeps the hand edits. A :class:`Drag` moves one point, or its whole region, optionally
mirrored onto the other half of the face about the face's own vertical axis.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Callable

import numpy as np

from engine.face.ibug68 import IBUG68_MIRROR, IBUG_REGIONS, LEFT_EYE, RIGHT_EYE
from engine.geometry.faceframe import FaceFrame
from engine.io import LandmarkEdit

NUM_POINTS = 68

REGIONS: dict[str, tuple[int, ...]] = {
    "jaw": IBUG_REGIONS["jaw"],
    "right brow": tuple(range(17, 22)),
    "left brow": tuple(range(22, 27)),
    "nose": IBUG_REGIONS["nose"],
    "right eye": RIGHT_EYE,
    "left eye": LEFT_EYE,
    "mouth": IBUG_REGIONS["mouth"],
}
"""What a region drag moves; "right" is the subject's right (the image's left)."""

CONTOURS: tuple[tuple[tuple[int, ...], bool], ...] = (
    (tuple(range(0, 17)), False),
    (tuple(range(17, 22)), False),
    (tuple(range(22, 27)), False),
    (tuple(range(27, 31)), False),
    (tuple(range(31, 36)), False),
    (RIGHT_EYE, True),
    (LEFT_EYE, True),
    (tuple(range(48, 60)), True),
    (tuple(range(60, 68)), True),
)
"""The iBUG outline as (indices, closed) polylines, for drawing."""

MOVED_EPSILON = 1e-3


def region_of(index: int) -> str:
    return next(name for name, members in REGIONS.items() if index in members)


class Change(Enum):
    """What a listener is told: BASE and CLEARED only need a redraw; DRAGGING asks for a quick
    draft render; EDITED (a drag finished, undo, redo, reset) for the final render."""

    BASE = "base"
    CLEARED = "cleared"
    DRAGGING = "dragging"
    EDITED = "edited"


@dataclass(frozen=True)
class Move:
    """One finished drag (or reset): offsets before and after, for undo."""

    before: np.ndarray
    after: np.ndarray
    description: str


class LandmarkDocument:
    """The editable points; listeners are called with the :class:`Change` after every change."""

    def __init__(self) -> None:
        self.base = np.zeros((NUM_POINTS, 2), np.float64)
        self.offsets = np.zeros((NUM_POINTS, 2), np.float64)
        self.has_base = False
        self._listeners: list[Callable[[Change], None]] = []

    def subscribe(self, listener: Callable[[Change], None]) -> None:
        self._listeners.append(listener)

    @property
    def points(self) -> np.ndarray:
        """(68, 2) where the points are asked to be, in target-photo pixels."""
        return self.base + self.offsets

    @property
    def moved(self) -> np.ndarray:
        """Indices of the points moved by hand."""
        return np.flatnonzero(np.abs(self.offsets).max(axis=1) > MOVED_EPSILON)

    def set_base(self, base: np.ndarray) -> None:
        """New base points (a new label or target); the offsets stay."""
        self.base = np.asarray(base, np.float64).reshape(NUM_POINTS, 2).copy()
        self.has_base = True
        self._notify(Change.BASE)

    def set_offsets(self, offsets: np.ndarray, interactive: bool = False) -> None:
        self.offsets = np.asarray(offsets, np.float64).reshape(NUM_POINTS, 2).copy()
        self._notify(Change.DRAGGING if interactive else Change.EDITED)

    def clear(self) -> None:
        """Forget the edits without a render (a new target photo)."""
        self.offsets = np.zeros((NUM_POINTS, 2), np.float64)
        self._notify(Change.CLEARED)

    def edits(self) -> list[LandmarkEdit]:
        """The moved points as absolute positions (the ``fes edit --landmarks`` format)."""
        points = self.points
        return [LandmarkEdit(int(i), float(points[i, 0]), float(points[i, 1])) for i in self.moved]

    def reset(self) -> Move | None:
        """All offsets to zero; the Move to push on the undo stack (None when nothing was moved)."""
        if not len(self.moved):
            return None
        return Move(self.offsets.copy(), np.zeros_like(self.offsets), "Reset landmarks")

    def nearest(self, x: float, y: float, radius: float) -> int | None:
        """Index of the point nearest (x, y) within ``radius`` pixels, else None."""
        if not self.has_base:
            return None
        distances = np.hypot(*(self.points - (x, y)).T)
        index = int(np.argmin(distances))
        return index if distances[index] <= radius else None

    def _notify(self, change: Change) -> None:
        for listener in self._listeners:
            listener(change)


class Drag:
    """A drag in progress: ``move_to`` while the mouse moves, ``finish`` on release.

    region: move every point of the grabbed point's region; mirror: move the mirror-image
    points by the mirrored displacement (a point on the midline keeps only its vertical motion).
    """

    def __init__(self, document: LandmarkDocument, index: int, *, region: bool = False, mirror: bool = False) -> None:
        self.document = document
        self.index = index
        self.start_offsets = document.offsets.copy()
        self.start_point = document.points[index].copy()
        self.group = REGIONS[region_of(index)] if region else (index,)
        self.mirror = mirror
        frame = FaceFrame.of(document.base)
        self._rotation = frame.rotation  # rows: the face's x and y axes in image coordinates
        self._mirrored = tuple(sorted({IBUG68_MIRROR[i] for i in self.group} - set(self.group))) if mirror else ()
        self._midline = tuple(i for i in self.group if IBUG68_MIRROR[i] == i) if mirror and not region else ()

    @property
    def description(self) -> str:
        what = f"{region_of(self.index)}" if len(self.group) > 1 else f"point {self.index}"
        return f"Move {what}{' (mirrored)' if self.mirror else ''}"

    def offsets_for(self, x: float, y: float) -> np.ndarray:
        delta = np.array([x, y], np.float64) - self.start_point
        offsets = self.start_offsets.copy()
        along = self._rotation @ delta  # in face axes
        for i in self.group:
            if i in self._midline:
                offsets[i] += self._rotation.T @ np.array([0.0, along[1]])
            else:
                offsets[i] += delta
        if self._mirrored:
            mirrored = self._rotation.T @ np.array([-along[0], along[1]])
            for i in self._mirrored:
                offsets[i] += mirrored
        return offsets

    def move_to(self, x: float, y: float) -> None:
        self.document.set_offsets(self.offsets_for(x, y), interactive=True)

    def finish(self) -> Move | None:
        """The Move for the undo stack, or None when the points did not move."""
        after = self.document.offsets.copy()
        if np.allclose(after, self.start_offsets, atol=MOVED_EPSILON):
            return None
        return Move(self.start_offsets, after, self.description)
