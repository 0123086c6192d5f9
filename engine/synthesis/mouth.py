"""The mouth interior a warp cannot show: where the target mouth opens wider than the source,
the opening is painted with a dark oral cavity, the upper teeth and, for a wide opening, the
tongue, in the person's own tones.

Everything is laid out in the mouth's own frame (u along the line between the inner-lip corners,
v across it, pixels), so a tilted head tilts the teeth with it:

* teeth are sized by the face, not by the mouth: central incisors 0.135 of the inter-ocular
  distance wide, then laterals, canines and premolars, placed on a dental arch (radius 0.55 IOD)
  so the side teeth are foreshortened as they turn away; thin darker gaps between them, rounded
  incisal edges (small notches at the gaps), a lit centre and darker sides per tooth, and the
  whole row darkening into the mouth corners (the buccal corridor);
* the row hangs from the skull, not from the lip: its edge sits 0.03 IOD below where the source's
  lips meet at rest (carried with the head), shortening towards the corners, so a smile that
  lifts the upper lip shows tall teeth and a dropped jaw shows their edge above a dark cavity;
  at most 0.16 IOD (an incisor's crown) shows, under a soft lip shadow, and a thin dark line
  stays above the lower lip;
* the cavity is the lip colour darkened, deepest in the middle; the tongue, a soft darker-pink
  rise above the lower lip, shows once the mouth opens beyond 0.12 IOD;
* the closed lips' dark crease, which the warp stretches along the parted lips, is painted over
  where it touches the opening (up to 0.05 IOD from it), so it does not outline the interior;
* every edge is anti-aliased (about one pixel), so nothing reads as a hard outline.
"""

from __future__ import annotations

import cv2
import numpy as np

from engine.face.ibug68 import MESH_TO_IBUG68
from engine.geometry.expressions import INNER_LOWER_LIP, INNER_UPPER_LIP
from engine.geometry.faceframe import FaceFrame

INNER_LIP_LOOP = INNER_UPPER_LIP + tuple(reversed(INNER_LOWER_LIP[1:-1]))
TOOTH_WIDTHS = (0.135, 0.105, 0.12, 0.11, 0.11, 0.11)  # IOD, centre outwards, along the arch
ARCH_RADIUS = 0.55  # IOD
TOOTH_HEIGHT = 0.16  # IOD: an upper central incisor's crown (~10.5 mm) over ~63 mm between the eyes
INCISAL_DROP = 0.03  # IOD: the upper incisors' edge below the resting lip line (hidden at rest)
CREASE = 0.05  # IOD: how far from the opening the lips' dark crease is painted over
LIP_SAMPLES = (61, 291, 0, 17, 39, 269, 181, 405)
SKIN_SAMPLES = (50, 280, 101, 330, 9, 151)


def opening(mesh: np.ndarray, frame: FaceFrame) -> float:
    """How open the mouth is: the summed gap between the inner lips along the face's vertical
    axis, in face units (crossed lips count as closed, not negative). mesh: (478, 2) pixels."""
    upper = frame.to_face(mesh[list(INNER_UPPER_LIP)])
    lower = frame.to_face(mesh[list(INNER_LOWER_LIP)])
    return float(np.maximum(lower[:, 1] - upper[:, 1], 0.0).sum())


def fill_mouth(out: np.ndarray, image: np.ndarray, src_mesh: np.ndarray, dst_mesh: np.ndarray) -> float:
    """Paint, in ``out`` ((H, W, 3) uint8 BGR, the warped photo), the part of the target mouth
    interior that the source ``image`` does not show; src_mesh, dst_mesh: (478, 2) pixels.
    Returns the fill share (0: nothing painted, 1: the source shows no interior at all)."""
    # The source's frame: a drag of an eye must not re-size the teeth.
    frame = FaceFrame.of(src_mesh[list(MESH_TO_IBUG68)])
    dst_open = opening(dst_mesh, frame)
    if dst_open < 0.05:  # summed over 11 columns: about 0.005 IOD each, a closed mouth
        return 0.0
    # 1 where the source shows nothing of its interior; 0 where it already shows as much.
    strength = float(np.clip(1.0 - opening(src_mesh, frame) / dst_open, 0.0, 1.0))
    if strength <= 0.0:
        return 0.0
    poly = dst_mesh[list(INNER_LIP_LOOP)]
    x0, y0 = np.floor(poly.min(0)).astype(int) - 3
    x1, y1 = np.ceil(poly.max(0)).astype(int) + 4
    h, w = out.shape[:2]
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 <= x0 or y1 <= y0:
        return 0.0
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(mask, [np.round((poly - (x0, y0)) * 16).astype(np.int32)], 255, lineType=cv2.LINE_AA, shift=4)
    mask = np.maximum(mask, _crease(out[y0:y1, x0:x1], mask, sample_colour(image, src_mesh, LIP_SAMPLES), frame.iod))
    stomion = _stomion(src_mesh, dst_mesh, frame)
    interior = mouth_interior(image, src_mesh, dst_mesh - (x0, y0), stomion - (x0, y0), (y1 - y0, x1 - x0), frame.iod)
    alpha = (cv2.GaussianBlur(mask, (0, 0), max(0.6, 0.006 * frame.iod)).astype(np.float32) / 255.0 * strength)[..., None]
    region = out[y0:y1, x0:x1].astype(np.float32)
    out[y0:y1, x0:x1] = np.clip(region * (1 - alpha) + interior * alpha, 0, 255).astype(np.uint8)
    return strength


def _crease(region: np.ndarray, mask: np.ndarray, lip: np.ndarray, iod: float) -> np.ndarray:
    """(h, w) uint8 255 where the warped ``region`` shows the closed lips' dark crease just outside
    the opening ``mask``: the warp stretches that line along the parted lips, where it would
    outline the interior in black. Pixels within CREASE IOD of the opening and darker than 70 %
    of the lips' luma count."""
    grow = max(1, int(round(CREASE * iod)))
    near = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1)))
    luma = cv2.cvtColor(region, cv2.COLOR_BGR2GRAY).astype(np.float32)
    lip_luma = float(0.114 * lip[0] + 0.587 * lip[1] + 0.299 * lip[2])
    dark = (luma < 0.7 * lip_luma) & (near > 0) & (mask < 128)
    # Only dark pixels connected to the opening: grow the opening through them, ring by ring.
    crease = np.zeros_like(mask)
    reach = mask >= 128
    kernel = np.ones((3, 3), np.uint8)
    for _ in range(grow):
        ring = (cv2.dilate(reach.astype(np.uint8), kernel) > 0) & dark & ~reach
        if not ring.any():
            break
        crease[ring] = 255
        reach = reach | ring
    return crease


def _stomion(src_mesh: np.ndarray, dst_mesh: np.ndarray, frame: FaceFrame) -> np.ndarray:
    """(11, 2) pixels of the target: where the source's lips meet (the middle of its inner lips),
    carried with the head (face frame of the eyes) into the target. The upper teeth hang from the
    skull, not from the lip: their edge stays near this line however the lips and jaw move."""
    middle = 0.5 * (frame.to_face(src_mesh[list(INNER_UPPER_LIP)]) + frame.to_face(src_mesh[list(INNER_LOWER_LIP)]))
    return FaceFrame.of(dst_mesh[list(MESH_TO_IBUG68)]).to_image(middle)


def mouth_interior(
    image: np.ndarray,
    src_mesh: np.ndarray,
    dst_local: np.ndarray,
    stomion_local: np.ndarray,
    shape: tuple[int, int],
    iod: float,
) -> np.ndarray:
    """(h, w, 3) float32 BGR mouth interior for the target mesh ``dst_local`` ((478, 2) pixels
    of the (h, w) patch), in the tones ``image`` shows at ``src_mesh``; ``stomion_local``:
    (11, 2) the resting lip line in patch pixels (see :func:`_stomion`). See the module docstring."""
    h, w = shape
    lip = sample_colour(image, src_mesh, LIP_SAMPLES)
    brightness = float(np.clip(sample_colour(image, src_mesh, SKIN_SAMPLES).mean() / 165.0, 0.65, 1.1))
    upper, lower = dst_local[list(INNER_UPPER_LIP)], dst_local[list(INNER_LOWER_LIP)]
    left, right = upper[0], upper[-1]
    ex = right - left
    half = max(0.5 * float(np.hypot(*ex)), 1.0)
    ex = ex / (2.0 * half)
    ey = np.array([-ex[1], ex[0]])
    centre = 0.5 * (left + right)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    u = (xx - centre[0]) * ex[0] + (yy - centre[1]) * ex[1]
    v = (xx - centre[0]) * ey[0] + (yy - centre[1]) * ey[1]
    top = _curve(upper, centre, ex, ey, half, u)
    bottom = _curve(lower, centre, ex, ey, half, u)
    gap = np.maximum(bottom - top, 0.0)
    s = np.clip(u / half, -1.0, 1.0)
    px = 1.0  # anti-aliasing width

    # Upper teeth: fixed to the skull, their edge a little below the resting lip line, shorter
    # towards the corners; as much of them shows as the upper lip uncovers (smiles show a lot,
    # a dropped jaw with a relaxed upper lip little), never more than a crown's height.
    rest = _curve(stomion_local, centre, ex, ey, half, u)
    edge = np.minimum(rest + INCISAL_DROP * iod * (1.0 - 0.45 * s * s), top + TOOTH_HEIGHT * iod)
    edge = np.minimum(edge, bottom - max(0.5, 0.004 * iod))
    height = float(np.max(edge - top)) if edge.size else 0.0
    boundaries = _tooth_boundaries(iod)
    near = np.min(np.abs(np.abs(u)[..., None] - boundaries), axis=-1)
    edge = edge - 0.005 * iod * np.exp(-0.5 * (near / (0.012 * iod)) ** 2)  # rounded incisal edges
    shown = np.clip((gap - 0.02 * iod) / (0.03 * iod), 0.0, 1.0)
    hidden = max(2.0, 0.03 * iod)  # the row starts under the upper lip, behind the painted crease
    tooth = _step(v - (top - hidden), px) * (1.0 - _step(v - edge, px)) * shown
    phase = _tooth_phase(np.abs(u), boundaries)
    shade = (0.95 + 0.05 * np.sin(np.pi * phase)) * (1.0 - 0.14 * np.exp(-0.5 * (near / max(0.35, 0.0025 * iod)) ** 2))
    lateral = 1.0 - s * s
    shade = shade * (0.55 + 0.45 * np.sqrt(lateral)) * (0.93 + 0.07 * np.clip((v - top) / max(height, 1.0), 0.0, 1.0))
    teeth = np.array([198.0, 212.0, 226.0], np.float32) * brightness

    # The cavity, and the tongue rising from the lower lip of a wide opening.
    depth = np.clip((v - top) / np.maximum(gap, 1.0), 0.0, 1.0)
    cavity = lip[None, None, :] * 0.26 * (1.0 - 0.35 * depth[..., None]) * (0.6 + 0.4 * lateral[..., None])
    tongue_h = np.clip((gap - 0.12 * iod) / (0.08 * iod), 0.0, 1.0) * 0.28 * gap * lateral
    tongue = _step(v - (bottom - tongue_h), np.maximum(0.6 * tongue_h, px)) * 0.8
    tongue_colour = lip[None, None, :] * (0.3 + 0.12 * depth[..., None])
    cavity = cavity * (1.0 - tongue[..., None]) + tongue_colour * tongue[..., None]

    out = cavity * (1.0 - tooth[..., None]) + teeth[None, None, :] * (shade * tooth)[..., None]
    shadow = 0.25 * np.exp(-np.maximum(v - top, 0.0) / max(0.8, 0.012 * iod))  # the upper lip's shadow
    return (out * (1.0 - shadow[..., None])).astype(np.float32)


def _curve(points: np.ndarray, centre: np.ndarray, ex: np.ndarray, ey: np.ndarray, half: float, u: np.ndarray) -> np.ndarray:
    """v of the lip line through ``points`` ((K, 2) pixels) at every u, smoothed along the mouth
    (the 11 mesh points make a polyline whose kinks would show in the teeth)."""
    pu = (points - centre) @ ex
    pv = (points - centre) @ ey
    order = np.argsort(pu)
    grid = np.linspace(-half, half, 65)
    line = np.interp(grid, pu[order], pv[order])
    line = cv2.GaussianBlur(line.reshape(1, -1).astype(np.float32), (0, 0), 2.0, borderType=cv2.BORDER_REPLICATE).ravel()
    return np.interp(u, grid, line).astype(np.float32)


def _tooth_boundaries(iod: float) -> np.ndarray:
    """(K,) |u| pixels of the gaps between teeth (0 between the central incisors), each tooth's
    width laid along the dental arch and projected onto the mouth line."""
    along = np.concatenate([[0.0], np.cumsum(TOOTH_WIDTHS)]) * iod
    radius = ARCH_RADIUS * iod
    return (radius * np.sin(np.minimum(along / radius, np.pi / 2))).astype(np.float32)


def _tooth_phase(au: np.ndarray, boundaries: np.ndarray) -> np.ndarray:
    """0..1 position across the tooth each |u| falls on (0 and 1 at its gaps)."""
    k = np.clip(np.searchsorted(boundaries, au) - 1, 0, len(boundaries) - 2)
    lo, hi = boundaries[k], boundaries[k + 1]
    return np.clip((au - lo) / np.maximum(hi - lo, 1e-3), 0.0, 1.0)


def _step(d: np.ndarray, width: float) -> np.ndarray:
    """A smooth 0 -> 1 step at d = 0, ``width`` pixels wide (anti-aliased edges)."""
    t = np.clip(d / width + 0.5, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def sample_colour(image: np.ndarray, mesh: np.ndarray, vertices: tuple[int, ...]) -> np.ndarray:
    """(3,) float32 median colour of ``image`` at the given mesh vertices."""
    h, w = image.shape[:2]
    pts = np.round(np.asarray(mesh)[list(vertices)]).astype(int)
    xs, ys = np.clip(pts[:, 0], 0, w - 1), np.clip(pts[:, 1], 0, h - 1)
    return np.median(image[ys, xs].astype(np.float32), axis=0)
