"""Expression labels as landmark displacements applied to a person's own neutral shape.

Templates live in resources/expressions/templates.json (see its description): FACS action units on
iBUG-68 points, spread over the 478 FaceMesh vertices by a normalised Gaussian blend with the rigid
vertices and the irises held still. ``fit_templates`` replaces labels by the mean displacement
measured on labelled neutral/expressive pairs (``fes-train fit-expressions``).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

import resources
from engine.errors import InputError
from engine.face.ibug68 import IBUG68_MIRROR, MESH_TO_IBUG68
from engine.geometry.faceframe import FaceFrame
from engine.geometry.lids import EYES
from engine.geometry.labels import EXPRESSIONS, MAX_INTENSITY, check_intensity, label_index
from engine.geometry.pose import RIGID_MESH, align_rigid
from engine.io.atomic import write_bytes_atomic

DEFAULT_PATH = resources.EXPRESSIONS / "templates.json"
IRIS_MESH = tuple(range(468, 478))
BLEND_SIGMA = 0.07  # narrowest blend width, face units (inter-ocular distances)
BLEND_SPACING = 0.8  # a handle's width relative to the distance to its second-nearest neighbour
# Weight of "no motion" in the blend: a vertex ~2.5 sigma from every handle barely moves.
BACKGROUND_WEIGHT = float(np.exp(-0.5 * 2.5**2))
# Inner-lip FaceMesh vertices, corner to corner. On a closed mouth the upper and lower lines
# coincide yet move apart, so the interpolation geometry opens the lips by LIP_GAP first.
INNER_UPPER_LIP = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
INNER_LOWER_LIP = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
LIP_GAP = 0.15


@dataclass(frozen=True)
class ActionUnit:
    name: str
    points: dict[int, tuple[float, float]]  # iBUG index -> (dx, dy) face units, subject's right side
    bilateral: bool = True

    def handles(self, side: str = "both") -> np.ndarray:
        """(68, 2) displacement of every iBUG point; ``side`` 'right' skips the mirrored half."""
        out = np.zeros((68, 2))
        for idx, (dx, dy) in self.points.items():
            out[idx] = (dx, dy)
            mirror = IBUG68_MIRROR[idx]
            if self.bilateral and side == "both" and mirror != idx:
                out[mirror] = (-dx, dy)
        return out


@dataclass(frozen=True)
class ExpressionTemplates:
    action_units: dict[str, ActionUnit]
    recipes: dict[str, dict]  # label -> {"units": {AU: weight}, "side": "both" | "right"}
    fitted: dict[str, np.ndarray] = field(default_factory=dict)  # label -> (478, 2) face units
    raw: dict = field(default_factory=dict)

    @staticmethod
    def load(path: str | Path | None = None) -> "ExpressionTemplates":
        path = Path(path) if path else DEFAULT_PATH
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            units = {
                name: ActionUnit(
                    name=au["name"],
                    points={int(k): (float(v[0]), float(v[1])) for k, v in au["points"].items()},
                    bilateral=bool(au.get("bilateral", True)),
                )
                for name, au in data["action_units"].items()
            }
            recipes = data["expressions"]
            fitted = {k: np.asarray(v, dtype=np.float64).reshape(478, 2) for k, v in data.get("fitted", {}).items()}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{path}: not a valid expression template file ({exc})") from exc
        missing = [label for label in EXPRESSIONS if label not in recipes and label not in fitted]
        if missing:
            raise InputError(f"{path}: no template for {', '.join(missing)}")
        return ExpressionTemplates(action_units=units, recipes=recipes, fitted=fitted, raw=data)

    def handles68(self, label: str) -> np.ndarray:
        """(68, 2) face-unit displacement of the iBUG points for ``label`` at intensity 1."""
        label_index(label)
        if label in self.fitted:
            return self.fitted[label][list(MESH_TO_IBUG68)]
        recipe = self.recipes[label]
        side = recipe.get("side", "both")
        total = np.zeros((68, 2))
        for unit, weight in recipe["units"].items():
            total += float(weight) * self.action_units[unit].handles(side)
        return total

    def displacement(self, label: str, neutral_face_mesh: np.ndarray) -> np.ndarray:
        """(478, 2) face-unit displacement for ``label`` at intensity 1 on this person's neutral mesh.

        neutral_face_mesh: (478, 2) the person's neutral FaceMesh in face units.
        """
        label_index(label)
        if label in self.fitted:
            return self.fitted[label].copy()
        return arc_lids(neutral_face_mesh, densify(neutral_face_mesh, self.handles68(label)))

    def with_fitted(self, fields: dict[str, np.ndarray], note: str) -> "ExpressionTemplates":
        fitted = dict(self.fitted)
        fitted.update(fields)
        raw = dict(self.raw)
        raw["fitted"] = {k: np.round(v, 5).tolist() for k, v in fitted.items()}
        raw["fitted_from"] = note
        return ExpressionTemplates(self.action_units, self.recipes, fitted, raw)

    def save(self, path: str | Path) -> None:
        """Write the template file atomically."""
        write_bytes_atomic(path, json.dumps(self.raw, indent=1).encode("utf-8"))


def arc_lids(neutral_face_mesh: np.ndarray, field: np.ndarray) -> np.ndarray:
    """``field`` ((478, 2) face units) with each lid margin moved as one arc.

    The iBUG points hold two handles per margin (37, 38 above; 40, 41 below), and the blend
    between them sags towards the still background: a raised upper lid would take an "M" shape,
    its middle lagging, with the lashes drawn across the eye. A lid is a curved sheet: every
    margin vertex takes the handles' mean displacement scaled by sin(pi t) (t from corner to
    corner) over the handles' own mean sin(pi t), so the middle leads and the corners stay.
    """
    out = np.array(field, dtype=np.float64)
    mesh = np.asarray(neutral_face_mesh, dtype=np.float64)
    handles = set(MESH_TO_IBUG68)
    for eye in EYES:
        a, b = mesh[eye.left], mesh[eye.right]
        axis = (b - a) / max(float(np.hypot(*(b - a))), 1e-9)
        for margin in (eye.upper, eye.lower):
            ids = np.asarray(margin)
            t = np.clip(((mesh[ids] - a) @ axis) / max(float(np.hypot(*(b - a))), 1e-9), 0.0, 1.0)
            bump = np.sin(np.pi * t)
            own = np.array([i in handles for i in margin])
            if not own.any() or bump[own].mean() < 1e-6:
                continue
            mean = out[ids[own]].mean(axis=0)
            out[ids] = mean[None, :] * (bump / bump[own].mean())[:, None]
    return out


def densify(neutral_face_mesh: np.ndarray, handles68: np.ndarray) -> np.ndarray:
    """Spread (68, 2) displacements of all iBUG points (zeros included) to the 478 vertices."""
    return spread(neutral_face_mesh, list(MESH_TO_IBUG68), handles68)


def spread(neutral_face_mesh: np.ndarray, handles: list[int], values: np.ndarray) -> np.ndarray:
    """(478, 2) displacement field from the displacements ``values`` (K, 2) of mesh vertices ``handles``.

    Handle vertices take their value exactly; every other vertex takes a normalised Gaussian
    blend of the handles (a convex combination, so no overshoot and no folded triangles), with
    the rigid vertices and the irises as extra still handles and a constant still term that
    fades the field out away from the handles. Each handle's width follows the spacing of the
    handles around it (dense on the lips, wide along the jaw), so no vertex falls between two
    handles into the still term. Works in face units.
    """
    mesh = opened_lips(np.asarray(neutral_face_mesh, dtype=np.float64))
    fixed = [i for i in RIGID_MESH + IRIS_MESH if i not in handles]
    idx = list(handles) + fixed
    values = np.concatenate([np.asarray(values, dtype=np.float64).reshape(-1, 2), np.zeros((len(fixed), 2))])
    centres = mesh[idx]
    w = np.exp(-_sq_dist(mesh, centres) / (2 * _widths(centres) ** 2))
    field = (w @ values) / (w.sum(axis=1, keepdims=True) + BACKGROUND_WEIGHT)
    field[idx] = values
    return field


def _widths(centres: np.ndarray) -> np.ndarray:
    """(K,) blend width of each handle: BLEND_SPACING times the distance to its second-nearest
    other handle, never below BLEND_SIGMA."""
    d = np.sqrt(_sq_dist(centres, centres))
    np.fill_diagonal(d, np.inf)
    k = min(1, len(centres) - 2)
    second = np.partition(d, k, axis=1)[:, k] if len(centres) > 2 else np.full(len(centres), BLEND_SIGMA)
    return np.maximum(BLEND_SIGMA, BLEND_SPACING * second)


def opened_lips(mesh: np.ndarray) -> np.ndarray:
    """A copy of a face-unit mesh with everything under the inner-lip midline moved down by LIP_GAP.

    Only used as interpolation geometry: the shift tapers to zero at the mouth corners and
    below the chin, so the upper and lower lips become distinct blend centres.
    """
    upper, lower = mesh[list(INNER_UPPER_LIP)], mesh[list(INNER_LOWER_LIP)]
    mid = (upper + lower) / 2
    order = np.argsort(mid[:, 0])
    x, y = mesh[:, 0], mesh[:, 1]
    midline = np.interp(x, mid[order, 0], mid[order, 1])
    left, right = mesh[78, 0], mesh[308, 0]
    half = (right - left) / 2
    taper = np.clip(1.0 - np.abs(x - (left + right) / 2) / (1.3 * half), 0.0, 1.0) ** 0.5
    below = (y > midline + 1e-6) & (y < midline + 1.2)
    below[list(INNER_LOWER_LIP[1:-1])] = True
    below[list(INNER_UPPER_LIP)] = False
    opened = mesh.copy()
    opened[:, 1] += LIP_GAP * taper * below
    return opened


def _sq_dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)


def expression_target(
    neutral_mesh: np.ndarray,
    label: str,
    intensity: float,
    templates: ExpressionTemplates,
) -> np.ndarray:
    """The person's neutral FaceMesh (478, 2) image pixels moved to ``label`` at ``intensity`` (0..1.5)."""
    check_intensity(intensity)
    frame = FaceFrame.of(neutral_mesh[list(MESH_TO_IBUG68)])
    field_face = templates.displacement(label, frame.to_face(neutral_mesh))
    return (np.asarray(neutral_mesh, dtype=np.float64) + intensity * frame.vectors_to_image(field_face)).astype(np.float32)


def label_fields(templates: ExpressionTemplates, neutral_face_mesh: np.ndarray) -> dict[str, np.ndarray]:
    """Every non-neutral label's (478, 2) face-unit displacement on this neutral, for :func:`nearest_label`."""
    return {label: templates.displacement(label, neutral_face_mesh) for label in EXPRESSIONS[1:]}


def nearest_label(motion: np.ndarray, fields: dict[str, np.ndarray], min_intensity: float = 0.15) -> tuple[str, float]:
    """The label whose template best explains a displacement, and at what intensity.

    motion: (478, 2) face-unit displacement from the neutral (e.g. a driving face's); fields:
    :func:`label_fields` of the same neutral. Each template is scaled by least squares; the label
    with the smallest residual wins, and weak motion (below ``min_intensity``) is 'neutral'.
    Label-conditioned generators get their label this way when a face drives them.
    """
    motion = np.asarray(motion, dtype=np.float64).reshape(-1)
    best, best_residual, best_scale = "neutral", float(motion @ motion), 0.0
    for label, field_ in fields.items():
        t = field_.reshape(-1)
        norm = float(t @ t)
        if norm == 0.0:
            continue
        scale = max(0.0, float(motion @ t) / norm)
        residual = float(((motion - scale * t) ** 2).sum())
        if residual < best_residual:
            best, best_residual, best_scale = label, residual, scale
    if best_scale < min_intensity:
        return "neutral", 0.0
    return best, float(min(best_scale, MAX_INTENSITY))


def fit_templates(
    samples: Iterable[tuple[np.ndarray, np.ndarray, str]],
    base: ExpressionTemplates | None = None,
    note: str = "labelled data",
    min_samples: int = 3,
) -> tuple[ExpressionTemplates, dict[str, int]]:
    """Refit labels from (neutral mesh3d (478, 3), expressive mesh3d (478, 3), label) pairs of one person each.

    Each pair's head pose is removed (3D similarity on the rigid vertices), the displacement is
    taken in the neutral face's frame, and the mean over pairs of a label becomes that label's
    template. Labels with fewer than ``min_samples`` pairs keep their previous template.
    Returns the new templates and the pair count per label.
    """
    sums: dict[str, np.ndarray] = defaultdict(lambda: np.zeros((478, 2)))
    counts: dict[str, int] = defaultdict(int)
    for neutral3d, expressive3d, label in samples:
        label_index(label)
        aligned = align_rigid(expressive3d, neutral3d)
        frame = FaceFrame.of(np.asarray(neutral3d)[list(MESH_TO_IBUG68), :2])
        sums[label] += frame.to_face(aligned[:, :2]) - frame.to_face(np.asarray(neutral3d)[:, :2])
        counts[label] += 1
    fields = {label: sums[label] / n for label, n in counts.items() if n >= min_samples and label != "neutral"}
    base = base or ExpressionTemplates.load()
    return base.with_fitted(fields, f"{note}: " + ", ".join(f"{k} ({counts[k]} pairs)" for k in sorted(fields))), dict(counts)
