"""Landmark drags: a handle's displacement spread over a compact, face-scaled neighbourhood.

Each dragged FaceMesh vertex carries a Wendland C2 radial weight of radius DRAG_RADIUS face units
(inter-ocular distances): 1 at the handle, smooth, exactly 0 from the radius on, so the rest of
the face does not move at all. With several handles the weights are combined by radial-basis
interpolation, so every handle lands exactly where it was dropped while holding the others at
theirs. Distances are taken with the lips opened (as the label templates do), so a drag of one
lip does not drag the other along; a lip pushed into the other pushes it along (contact handles).
An envelope stills every triangle reaching LOCALITY from the drags, and a fold guard then shrinks
the whole field, if it must, until no triangle of the given triangulation turns over.

Why not the label blend (expressions.spread): its Gaussian widths follow the spacing of the
handles, so one handle alone spreads across most of the face (London 001, 10 % IOD drags: 419 of
544 flipped a warp triangle, far vertices moved 7.6 px); this kernel keeps the strain of a
0.1 IOD drag under 0.1 * max|phi'| / radius ~ 0.47, well short of a fold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.geometry.expressions import INNER_LOWER_LIP, INNER_UPPER_LIP, opened_lips

DRAG_RADIUS = 0.45  # face units: a handle's reach; farther vertices do not move
GUARD_STEPS = 12  # bisection steps of the fold guard (scale resolution 2**-12)
MIN_AREA_RATIO = 0.05  # a triangle may shrink to this share of its area, not below (no crease)
SLIVER = 0.015  # face units: a triangle lower than this is a sliver, its orientation is noise
FOLD_TOLERANCE = 0.01  # face units a sliver may turn over by (0.8 px at an IOD of 80 px)
CONTACT_PASSES = 3  # rounds of lip-contact handles
LOCALITY = 0.5  # face units: no triangle reaching this far from every drag moves
LOCALITY_FADE = 0.15  # face units over which the field fades out before LOCALITY


@dataclass(frozen=True)
class DragField:
    """field: (478, 2) displacement in face units; scale: 0..1, how much of the asked
    displacement the fold guard let through (1 = all of it, every handle exactly placed)."""

    field: np.ndarray
    scale: float


def wendland(r: np.ndarray) -> np.ndarray:
    """Wendland C2 weight of a normalised distance ``r`` >= 0: (1 - r)^4 (4 r + 1), 0 from r = 1 on."""
    r = np.clip(np.asarray(r, dtype=np.float64), 0.0, 1.0)
    return (1.0 - r) ** 4 * (4.0 * r + 1.0)


def drag_field(
    face_mesh: np.ndarray,
    handles: list[int],
    values: np.ndarray,
    triangles: np.ndarray,
    still: np.ndarray | None = None,
    radius: float = DRAG_RADIUS,
) -> DragField:
    """The displacement of a face mesh whose vertices ``handles`` are dragged by ``values``.

    face_mesh: (N, 2) FaceMesh in face units (N = 478); handles: K distinct vertex indices;
    values: (K, 2) their displacements, face units; triangles: (T, 3) int indices into the mesh
    followed by ``still`` (M, 2), points that never move (the warp's outer rings), whose
    orientation the guard keeps (see :func:`folded`). A lip pushed into the other pushes it
    along (contact handles on the pushed lip's inner line), so closed lips never cross.
    """
    mesh = np.asarray(face_mesh, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64).reshape(-1, 2)
    geometry = opened_lips(mesh)
    idx, vals = list(handles), values.copy()
    full = _interpolate(mesh, geometry, idx, vals, radius)
    for _ in range(CONTACT_PASSES):
        contacts = _lip_contacts(mesh, full, set(idx))
        if not contacts:
            break
        for vertex, value in contacts.items():
            if vertex in idx:
                vals[idx.index(vertex)] = value
            else:
                idx, vals = idx + [vertex], np.concatenate([vals, value[None]])
        full = _interpolate(mesh, geometry, idx, vals, radius)
    triangles = np.asarray(triangles)
    still = np.zeros((0, 2)) if still is None else np.asarray(still, dtype=np.float64)
    full *= _envelope(mesh, geometry, still, handles, triangles)[:, None]
    scale = _fold_guard(np.concatenate([mesh, still]), full, triangles)
    return DragField(field=full * scale, scale=scale)


def _interpolate(mesh: np.ndarray, geometry: np.ndarray, handles: list[int], values: np.ndarray, radius: float) -> np.ndarray:
    """(N, 2) radial-basis interpolant of ``values`` (K, 2) at ``handles``, exact there, 0 beyond
    ``radius`` of every handle. Distances: the larger of the real and the lips-opened one, so the
    lips stay apart and the support never reaches farther than ``radius`` in the real face."""
    dist = np.maximum(_distances(mesh, mesh[handles]), _distances(geometry, geometry[handles]))
    weights = wendland(dist / radius)  # (N, K)
    gram = weights[handles]  # (K, K), positive definite for distinct handles
    out = weights @ np.linalg.solve(gram + 1e-9 * np.eye(len(handles)), values)
    out[handles] = values
    return out


def _envelope(mesh: np.ndarray, geometry: np.ndarray, still: np.ndarray, handles: list[int], triangles: np.ndarray) -> np.ndarray:
    """(N,) 1 at the dragged ``handles``, fading to 0 where a vertex's triangles (T, 3, over the
    mesh and then the ``still`` points) reach LOCALITY face units from them: a triangle reaching
    that far keeps its corners still, so no pixel beyond LOCALITY moves (contact handles, and the
    wide triangles out to the warp's rings, would otherwise carry the field farther)."""
    dist = np.maximum(_distances(mesh, mesh[handles]), _distances(geometry, geometry[handles])).min(axis=1)
    dist = np.concatenate([dist, _distances(still, mesh[handles]).min(axis=1)])
    reach = dist.copy()
    np.maximum.at(reach, triangles.reshape(-1), np.repeat(dist[triangles].max(axis=1), 3))
    envelope = _smoothstep((LOCALITY - reach[: len(mesh)]) / LOCALITY_FADE)
    envelope[handles] = 1.0
    return envelope


def _lip_contacts(mesh: np.ndarray, field: np.ndarray, dragged: set[int]) -> dict[int, np.ndarray]:
    """Contact handles: inner-lip vertex -> displacement (2,) that keeps the inner lips from
    crossing (by more than on ``mesh``). The lip holding a dragged vertex (else the one moving
    more) pushes; each vertex of the other lip is moved along y to stay on its side of the pushing
    lip's line, and so are the two that bracket a pushing vertex that crosses."""
    upper, lower = list(INNER_UPPER_LIP[1:-1]), list(INNER_LOWER_LIP[1:-1])
    moved = mesh + field
    up_pushes = bool(dragged & set(upper)) if dragged & set(upper + lower) else np.abs(field[upper]).sum() >= np.abs(field[lower]).sum()
    pusher, pushed, down = (upper, lower, 1.0) if up_pushes else (lower, upper, -1.0)

    def gaps(points: np.ndarray, at: list[int], line: list[int]) -> np.ndarray:
        """How far each vertex ``at`` lies past ``line`` towards the pusher, face units."""
        order = np.argsort(points[line, 0])
        line_y = np.interp(points[at, 0], points[line, 0][order], points[line, 1][order])
        return down * (line_y - points[at, 1])

    need = np.maximum(gaps(moved, pushed, pusher) - np.maximum(gaps(mesh, pushed, pusher), 0.0), 0.0)
    cross = np.maximum(-gaps(moved, pusher, pushed) - np.maximum(-gaps(mesh, pusher, pushed), 0.0), 0.0)
    xs = moved[pushed, 0]
    order = np.argsort(xs)
    for depth, x in zip(cross, moved[pusher, 0]):
        if depth > 0:
            right = int(np.searchsorted(xs[order], x))
            for k in {max(right - 1, 0), min(right, len(pushed) - 1)}:
                need[order[k]] = max(need[order[k]], depth)
    return {pushed[k]: field[pushed[k]] + (0.0, down * need[k]) for k in np.flatnonzero(need > 1e-9)}


def folded(before: np.ndarray, after: np.ndarray, triangles: np.ndarray, min_ratio: float = 0.0) -> np.ndarray:
    """(T,) bool: triangles (T, 3) of ``after`` (P, 2) turned over relative to ``before`` (P, 2).

    A triangle at least SLIVER face units high must keep the sign of its area and ``min_ratio``
    of it (0: just the sign). A sliver (three nearly collinear points: a closed mouth's inner
    lips, a lid through an iris point) has a sign that is noise: one upright in the triangulation's
    orientation (the sign most triangles share) may not turn over by more than FOLD_TOLERANCE, one
    already turned over (crossed lips) is free.
    """
    a0, a1 = signed_areas(before, triangles), signed_areas(after, triangles)
    h0 = np.abs(a0) / _longest_edge(before, triangles)
    orientation = 1.0 if (a0 > 0).sum() >= (a0 < 0).sum() else -1.0
    sign = np.where(h0 >= SLIVER, np.where(a0 < 0, -1.0, 1.0), orientation)
    h1 = sign * a1 / _longest_edge(after, triangles)
    sliver_fold = (orientation * a0 >= 0) & (h1 < -FOLD_TOLERANCE)
    return np.where(h0 >= SLIVER, (sign * a1 < min_ratio * np.abs(a0)) | (h1 <= 0), sliver_fold)


def _fold_guard(points: np.ndarray, field: np.ndarray, triangles: np.ndarray) -> float:
    """The largest scale in [0, 1] (to 2**-GUARD_STEPS) at which ``field`` (N, 2), added to the
    first N of ``points`` (N + M, 2), folds no triangle (:func:`folded`, MIN_AREA_RATIO)."""
    moving = np.zeros(len(points), dtype=bool)
    moving[: len(field)] = np.abs(field).max(axis=1) > 0
    tris = triangles[moving[triangles].any(axis=1)]
    padded = np.zeros_like(points)
    padded[: len(field)] = field

    def ok(scale: float) -> bool:
        return not folded(points, points + scale * padded, tris, MIN_AREA_RATIO).any()

    if ok(1.0):
        return 1.0
    low, high = 0.0, 1.0
    for _ in range(GUARD_STEPS):
        mid = (low + high) / 2
        low, high = (mid, high) if ok(mid) else (low, mid)
    return low


def signed_areas(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """(T,) twice the signed area of each triangle (T, 3) of ``points`` (N, 2)."""
    a, b, c = (points[triangles[:, i]] for i in range(3))
    return (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])


def _longest_edge(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """(T,) length of each triangle's longest edge (at least 1e-12)."""
    p = points[triangles]  # (T, 3, 2)
    edges = np.linalg.norm(p - np.roll(p, 1, axis=1), axis=-1)
    return np.maximum(edges.max(axis=1), 1e-12)


def _smoothstep(t: np.ndarray) -> np.ndarray:
    """3 t^2 - 2 t^3 of ``t`` clipped to [0, 1]."""
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _distances(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """(N, K) Euclidean distances of ``points`` (N, 2) to ``centres`` (K, 2)."""
    return np.sqrt(((points[:, None, :] - centres[None, :, :]) ** 2).sum(-1))
