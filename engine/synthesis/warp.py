"""The classical generator ``warp``: a piecewise-affine warp over the FaceMesh (training free).

The face's 478 vertices plus two rings around the face oval are triangulated once (Delaunay
on the shape model's mean face, lips opened so the mouth interior is a clean set of triangles).
Each output pixel inside the outer ring is mapped back through its triangle's affine to the
source image (one dense cv2.remap); outside the ring the image is untouched, so no seam exists.
Both rings stay where they are, unless the head itself moves (``head_motion``, the head pose
following a driver): then the inner ring moves rigidly with the head and the band between the
rings absorbs the motion, while hair, neck and background beyond the outer ring stay whole.

Where the target mouth opens wider than the source shows, the interior is synthesised
(:mod:`engine.synthesis.mouth`: cavity, teeth, tongue) instead of stretching the lip line.
This is the papers' "first category" baseline and the pre-warp for learned refiners.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from engine.geometry.drags import signed_areas
from engine.geometry.expressions import opened_lips
from engine.geometry.shape_model import ShapeModel
from engine.synthesis.eyes import IRIS_VERTICES, paint_eyeballs
from engine.synthesis import mouth
from engine.synthesis.mouth import INNER_LIP_LOOP

FACE_OVAL = (176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109, 10, 338,
             297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148)
RING_SCALES = (1.35, 1.9)  # outer rings, as multiples of the oval's distance from its centre
BAND_MIN = 1.0  # a moved head keeps the outer ring this many rest band widths beyond the inner one
OUTER_MAX = 2.15  # ... but never further out than this (oval radii): the image beyond stays whole
RING_SHARES = 17  # shares of a head motion too large for the band tried: 1, 15/16, ..., 0
BAND_ROWS = 512  # the remap map is built in bands of this many rows to bound memory
MAP_FULL_RES_PIXELS = 160_000  # face regions larger than this get a half-resolution map


@dataclass(frozen=True)
class Topology:
    triangles: np.ndarray  # (T, 3) int32 indices into mesh (478) + rings
    mouth: np.ndarray  # (T,) bool: triangle lies inside the inner-lip loop


@dataclass(frozen=True)
class WarpResult:
    """image: the warped (H, W, 3) uint8 BGR image; roi: (x0, y0, x1, y1) the region that changed;
    mouth_fill: 0..1, how much of the mouth interior was synthesised."""

    image: np.ndarray
    roi: tuple[int, int, int, int]
    mouth_fill: float


def rings(mesh: np.ndarray) -> np.ndarray:
    """(2 * 36, 2) fixed points around the face oval of ``mesh`` (478, 2)."""
    oval = np.asarray(mesh, dtype=np.float64)[list(FACE_OVAL)]
    centre = oval.mean(axis=0)
    return np.concatenate([centre + s * (oval - centre) for s in RING_SCALES])


@lru_cache(maxsize=1)
def topology() -> Topology:
    mean = opened_lips(ShapeModel.load().mean)
    pts = np.concatenate([mean, rings(mean)])
    # The iris vertices stay out of the mesh: the eye opening is spanned by the lid margins alone,
    # so it closes like a slit without folding, and engine.synthesis.eyes paints the eyeball.
    used = np.setdiff1d(np.arange(len(pts)), IRIS_VERTICES)
    lo, hi = pts.min(0) - 1.0, pts.max(0) + 1.0
    scaled = (pts[used] - lo) * 100.0
    w, h = (hi - lo) * 100.0
    subdiv = cv2.Subdiv2D((0, 0, int(w) + 1, int(h) + 1))
    subdiv.insert([(float(x), float(y)) for x, y in scaled])
    corners = subdiv.getTriangleList().reshape(-1, 3, 2)
    # Subdiv2D returns coordinates, not indices: take the nearest input vertex of each corner and
    # drop the triangles that touch its virtual outer vertices (no input point near them).
    dist = np.linalg.norm(corners[:, :, None, :] - scaled[None, None], axis=-1)
    nearest, gap = dist.argmin(-1), dist.min(-1)
    tris = used[nearest[(gap < 1e-2).all(axis=1)]].astype(np.int32)
    loop = np.asarray(INNER_LIP_LOOP)
    poly = (mean[loop] * 100).astype(np.float32)
    centroids = pts[tris].mean(axis=1) * 100
    inside = np.array([cv2.pointPolygonTest(poly, (float(x), float(y)), False) > 0 for x, y in centroids])
    on_loop = np.isin(tris, loop).all(axis=1)
    return Topology(triangles=tris, mouth=inside & on_loop)


def _affines(src: np.ndarray, dst: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """(T, 2, 3) affine per triangle mapping dst -> src; degenerate triangles map to identity."""
    d = np.concatenate([dst[tris].transpose(0, 2, 1), np.ones((len(tris), 1, 3))], axis=1)  # (T, 3, 3)
    s = src[tris].transpose(0, 2, 1)  # (T, 2, 3)
    det = np.linalg.det(d)
    ok = np.abs(det) > 1e-6
    out = np.tile(np.array([[1.0, 0, 0], [0, 1.0, 0]]), (len(tris), 1, 1))
    out[ok] = s[ok] @ np.linalg.inv(d[ok])
    return out


def moved_rings(src_mesh: np.ndarray, dst_mesh: np.ndarray, head_motion: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(source rings, output rings), each (2 * 36, 2), around ``src_mesh`` for a face going to
    ``dst_mesh`` (both (478, 2)) with its head moved by ``head_motion`` ((2, 3) similarity in
    pixels; None: both rings fixed, as RING_SCALES says).

    The inner ring moves with the head; the outer one stays, pushed out from RING_SCALES[1] (up
    to OUTER_MAX) until it lies at least BAND_MIN rest band widths beyond every moved inner-ring
    point. A motion larger than the band can take without turning a triangle over is shortened
    (towards a still head) to the share of it that turns the fewest over (none over roll +-12
    deg, shift +-25 px, scale +-6 % and yaw, pitch +-20 deg on 512 px London photos, bar one
    triangle on one face with every axis at its extreme at once).
    """
    src_ring = rings(src_mesh)
    if head_motion is None:
        return src_ring, src_ring
    motion = np.asarray(head_motion, np.float64)
    n = len(FACE_OVAL)
    oval = np.asarray(src_mesh, dtype=np.float64)[list(FACE_OVAL)]
    centre = oval.mean(axis=0)
    radial = oval - centre
    inner_rest = src_ring[:n]
    inner_moved = inner_rest @ motion[:, :2].T + motion[:, 2]
    tris = topology().triangles
    near_rings = tris[(tris >= len(src_mesh)).any(axis=1)]

    def at(share: float) -> tuple[np.ndarray, np.ndarray, int]:
        inner = inner_rest + share * (inner_moved - inner_rest)
        # How far out (in oval radii) each moved inner point reaches along its own ray.
        reach = ((inner - centre) * radial).sum(1) / np.maximum((radial**2).sum(1), 1e-9)
        scale = float(np.clip(reach.max() + BAND_MIN * (RING_SCALES[1] - RING_SCALES[0]), RING_SCALES[1], OUTER_MAX))
        src = np.concatenate([inner_rest, centre + scale * radial])
        dst = np.concatenate([inner, centre + scale * radial])
        before = signed_areas(np.concatenate([src_mesh, src]), near_rings)
        after = signed_areas(np.concatenate([dst_mesh, dst]), near_rings)
        return src, dst, int((before * after <= 0).sum())

    best = at(1.0)
    # Too much motion for the band: the largest share of it that folds fewest triangles (a face
    # moved far past a still inner ring folds too, so a still ring is no safe fallback).
    for share in np.linspace(1.0, 0.0, RING_SHARES)[1:]:
        if best[2] == 0:
            break
        candidate = at(float(share))
        if candidate[2] < best[2]:
            best = candidate
    return best[0], best[1]


def warp_face(
    image: np.ndarray,
    src_mesh: np.ndarray,
    dst_mesh: np.ndarray,
    fill_mouth: bool = True,
    head_motion: np.ndarray | None = None,
    eyes: bool = True,
) -> WarpResult:
    """Move the face in ``image`` so its FaceMesh goes from ``src_mesh`` to ``dst_mesh``.

    image: (H, W, 3) uint8 BGR; src_mesh, dst_mesh: (478, 2) pixels; head_motion: (2, 3)
    similarity (pixels) by which the whole head moves (see :func:`moved_rings`; None: it stays).
    Memory is bounded by the face region (the map is built in bands), so large photos work.
    ``eyes``: lids slide over unsquashed eyeballs and the iris follows the gaze
    (:mod:`engine.synthesis.eyes`); off, the eye opening is warped like skin (the iris squashes
    with it).
    """
    topo = topology()
    src_ring, dst_ring = moved_rings(src_mesh, dst_mesh, head_motion)
    src = np.concatenate([np.asarray(src_mesh, np.float64), src_ring])
    dst = np.concatenate([np.asarray(dst_mesh, np.float64), dst_ring])
    h, w = image.shape[:2]
    x0, y0 = np.floor(np.minimum(src.min(0), dst.min(0))).astype(int)
    x1, y1 = np.ceil(np.maximum(src.max(0), dst.max(0))).astype(int) + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    out = image.copy()
    if x1 - x0 < 2 or y1 - y0 < 2:
        return WarpResult(out, (0, 0, 0, 0), 0.0)
    affines = _affines(src, dst, topo.triangles)
    # The map is piecewise affine and smooth: for a large face it is built at half resolution
    # and scaled up (the offset is what is interpolated, so flat regions stay exact).
    step = 2 if (x1 - x0) * (y1 - y0) > MAP_FULL_RES_PIXELS else 1
    gw, gh = -(-(x1 - x0) // step), -(-(y1 - y0) // step)
    ids = _rasterise((dst - (x0, y0)) / step, topo.triangles, (gh, gw))
    dx = np.zeros((gh, gw), np.float32)
    dy = np.zeros((gh, gw), np.float32)
    for r0 in range(0, gh, BAND_ROWS):
        r1 = min(r0 + BAND_ROWS, gh)
        band = ids[r0:r1]
        inside = band >= 0
        if not inside.any():
            continue
        yy, xx = np.mgrid[r0:r1, 0:gw]
        xs, ys = (xx * step + x0).astype(np.float32), (yy * step + y0).astype(np.float32)
        a = affines[np.where(inside, band, 0)].astype(np.float32)  # (rows, cols, 2, 3)
        dx[r0:r1] = np.where(inside, a[..., 0, 0] * xs + a[..., 0, 1] * ys + a[..., 0, 2] - xs, 0)
        dy[r0:r1] = np.where(inside, a[..., 1, 0] * xs + a[..., 1, 1] * ys + a[..., 1, 2] - ys, 0)
    w_roi, h_roi = x1 - x0, y1 - y0
    for r0 in range(0, h_roi, BAND_ROWS):
        r1 = min(r0 + BAND_ROWS, h_roi)
        # Grid rows around this band, one extra each side so the upscale interpolates across it.
        g0, g1 = max(r0 // step - 1, 0), min(-(-r1 // step) + 1, gh)
        bx, by = dx[g0:g1], dy[g0:g1]
        if step > 1:
            bx = cv2.resize(bx, (gw * step, (g1 - g0) * step), interpolation=cv2.INTER_LINEAR)
            by = cv2.resize(by, (gw * step, (g1 - g0) * step), interpolation=cv2.INTER_LINEAR)
        rows = slice(r0 - g0 * step, r1 - g0 * step)
        yy, xx = np.mgrid[y0 + r0:y0 + r1, x0:x1].astype(np.float32)
        out[y0 + r0:y0 + r1, x0:x1] = cv2.remap(
            image, xx + bx[rows, :w_roi], yy + by[rows, :w_roi], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
    if eyes:
        paint_eyeballs(out, image, src_mesh, dst_mesh)
    fill = 0.0
    if fill_mouth:
        fill = mouth.fill_mouth(out, image, np.asarray(src_mesh, np.float64), np.asarray(dst_mesh, np.float64))
    return WarpResult(out, (int(x0), int(y0), int(x1), int(y1)), fill)


def _rasterise(dst: np.ndarray, tris: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(h, w) int32 map of the triangle covering each pixel centre, -1 outside the mesh."""
    ids = np.full(shape, -1, dtype=np.int32)
    fixed = np.round(dst * 16).astype(np.int32)  # 4 fractional bits for cv2's sub-pixel fill
    for t, tri in enumerate(tris):
        cv2.fillConvexPoly(ids, fixed[tri], int(t), lineType=cv2.LINE_8, shift=4)
    return ids
