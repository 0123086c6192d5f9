"""Eyes in the warp: lids that close over the eyeball and an iris that follows the gaze.

A piecewise-affine warp that treats the eye opening like skin squashes the iris and sclera into a
strip as the upper lid comes down, and once the lid passes the iris vertices (FaceMesh 468-477)
their triangles fold over the lid as dark spikes. A real lid slides over an eyeball that keeps its
shape. So the warp's mesh leaves the iris vertices out (engine.synthesis.warp.topology: the
opening is spanned by the lid margins alone and closes like a slit), and :func:`paint_eyeballs`
then repaints the target's eye opening with the source's eyeball, unsquashed: the source eye
mapped by the similarity that takes its corners to the target's corners, shifted by the gaze (the
target iris centre against where that similarity puts the source's), and cut by the target's lid
contour. Beyond the source's own opening the eyeball is continued as an eyeball
(:func:`_eyeball_plate`): the iris as the round disc FaceMesh's iris ring describes, in the iris's
own colour with a darker limbal rim, and sclera elsewhere in the eye's own white, a little
shadowed towards the lid; so an eye opened wider shows the top of a round iris and more white,
not lid skin, lashes or the inpainted dark smear a plain inpainting drags up from the iris. As the lids close, the
upper lid's lash line comes down with them (:func:`_lash_line`); where they meet, nothing of the
eyeball shows.

FaceMesh contours used: lid margins of each eye between its corners, iris centre + 4 rim points.
"""

from __future__ import annotations

import hashlib

import cv2
import numpy as np

from engine.geometry.lids import EYES, Eye


IRIS_VERTICES = tuple(i for eye in EYES for i in eye.iris)  # kept out of the warp's mesh
MAX_GAZE = 0.3  # the iris moves at most this share of the eye's width along the eye ...
MAX_GAZE_ACROSS = 0.08  # ... and this share across it
MIN_GAP = 0.02  # lid gap (share of eye width) below which the eye counts as shut: nothing painted
LASH_WIDTH = 0.06  # the lash line's thickness, share of the eye width
LASH_OPACITY = 0.85  # at full closing (the gap halved or less)
EYEBALL_INSET = 1  # px inside the target's lid contour where the repainted eyeball starts
PLATE_CACHE = 8  # eyeball plates kept (up to four per source photo: two eyes, widened or not)
WIDER = 1.05  # a target lid gap above this share of the source's counts as an eye opened wider
UPPER_BAND = 0.07  # share of the eye width under the source's upper margin replaced by the continued eyeball
UNCHANGED_PX = 0.25  # an eye whose outline and iris moved less than this off its corners' similarity is left alone

_PLATES: dict[bytes, np.ndarray] = {}  # see _eyeball_plate; read-only arrays, shared by callers


def _frame(mesh: np.ndarray, eye: Eye) -> tuple[np.ndarray, np.ndarray, float]:
    """(origin (2,), rotation (2, 2) whose rows are the eye's axes, width): left corner at 0,
    right corner at (width, 0), the second axis pointing down the face."""
    a, b = mesh[eye.left], mesh[eye.right]
    axis = b - a
    width = float(np.hypot(*axis)) or 1.0
    u = axis / width
    return a, np.array([u, [-u[1], u[0]]]), width


def _lids(mesh: np.ndarray, eye: Eye, origin: np.ndarray, rot: np.ndarray, width: float):
    """The two lid margins as height-of-position functions in eye units (0 .. 1 along the eye)."""
    def curve(ids: tuple[int, ...]):
        pts = (mesh[[eye.left, *ids, eye.right]] - origin) @ rot.T / width
        order = np.argsort(pts[:, 0])
        return lambda x: np.interp(x, pts[order, 0], pts[order, 1])
    return curve(eye.upper), curve(eye.lower)


def _similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """(2, 3) similarity taking the two points ``src`` (2, 2) onto ``dst`` (2, 2)."""
    s, d = src[1] - src[0], dst[1] - dst[0]
    zs, zd = complex(*s), complex(*d)
    z = zd / zs if abs(zs) > 1e-9 else 1.0
    m = np.array([[z.real, -z.imag], [z.imag, z.real]])
    return np.concatenate([m, (dst[0] - m @ src[0])[:, None]], axis=1)


def paint_eyeballs(out: np.ndarray, image: np.ndarray, src_mesh: np.ndarray, dst_mesh: np.ndarray,
                   gaze: bool = True) -> None:
    """Repaint both target eye openings of ``out`` (H, W, 3) uint8 in place with the source
    ``image``'s eyeballs (see the module docstring). src_mesh, dst_mesh: (478, 2) pixels, the
    target geometry (its iris vertices carry the gaze)."""
    h, w = out.shape[:2]
    src_mesh = np.asarray(src_mesh, np.float64)
    dst_mesh = np.asarray(dst_mesh, np.float64)
    for eye in EYES:
        corners = [eye.left, eye.right]
        m = _similarity(src_mesh[corners], dst_mesh[corners])
        moved = src_mesh[eye.loop + list(eye.iris)] @ m[:, :2].T + m[:, 2]
        if np.abs(moved - dst_mesh[eye.loop + list(eye.iris)]).max() < UNCHANGED_PX:
            continue  # the eye only moved with its corners: the warp already drew it exactly
        d_origin, d_rot, d_width = _frame(dst_mesh, eye)
        d_gap = _gap(dst_mesh, eye, d_origin, d_rot, d_width)
        s_gap = max(_gap(src_mesh, eye, *_frame(src_mesh, eye)), 1e-6)
        if d_gap >= MIN_GAP:
            _paint_eyeball(out, image, src_mesh, dst_mesh, eye, m, gaze, widened=d_gap > WIDER * s_gap)
        closing = float(np.clip(2.0 * (1.0 - d_gap / s_gap), 0.0, 1.0))
        if closing > 0.0:
            _lash_line(out, image, src_mesh, dst_mesh, eye, d_width, LASH_OPACITY * closing,
                       fill=d_gap < 2.0 * LASH_WIDTH)


def _paint_eyeball(out: np.ndarray, image: np.ndarray, src_mesh: np.ndarray, dst_mesh: np.ndarray, eye: Eye,
                   m: np.ndarray, gaze: bool, widened: bool) -> None:
    """The source eyeball mapped by the corner similarity ``m`` (2, 3) (plus the gaze shift) into
    the target's opening of ``eye``; ``widened``: the target opens wider than the source, so the
    band under the source's upper margin shows continued eyeball (see :func:`_eyeball_plate`)."""
    h, w = out.shape[:2]
    d_origin, d_rot, d_width = _frame(dst_mesh, eye)
    m = m.copy()
    if gaze:
        # Along the eye the iris goes where the target geometry puts it; up and down only a
        # little, because a closing lid drags the tracked iris centre down with it.
        shift = dst_mesh[eye.iris[0]] - (m[:, :2] @ src_mesh[eye.iris[0]] + m[:, 2])
        along, across = d_rot @ shift / d_width
        along = float(np.clip(along, -MAX_GAZE, MAX_GAZE))
        across = float(np.clip(across, -MAX_GAZE_ACROSS, MAX_GAZE_ACROSS))
        m[:, 2] += (np.array([along, across]) * d_width) @ d_rot
    poly = dst_mesh[eye.loop]
    pad = max(2, int(0.15 * d_width))
    x0, y0 = np.floor(poly.min(0)).astype(int) - pad
    x1, y1 = np.ceil(poly.max(0)).astype(int) + pad + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 - x0 < 3 or y1 - y0 < 3:
        return
    plate, offset = _eyeball_plate(image, src_mesh[eye.loop], src_mesh[list(eye.iris)], pad, widened)
    if plate is None:
        return
    # Target box pixel -> plate pixel: undo the box offset, the similarity, then the plate's.
    to_box = m.copy()
    to_box[:, 2] -= (x0, y0)
    full = np.vstack([to_box, [0, 0, 1]])
    from_plate = np.array([[1, 0, offset[0]], [0, 1, offset[1]], [0, 0, 1]], np.float64)
    sample = cv2.warpAffine(plate, (full @ from_plate)[:2], (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REPLICATE)
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(mask, [np.round((poly - (x0, y0)) * 16).astype(np.int32)], 255, cv2.LINE_8, shift=4)
    if EYEBALL_INSET:
        # The lid margins (lashes, their shadow) stay the warp's: they are the person's own.
        mask = cv2.erode(mask, np.ones((2 * EYEBALL_INSET + 1, 2 * EYEBALL_INSET + 1), np.uint8))
    alpha = cv2.GaussianBlur(mask, (0, 0), 0.6).astype(np.float32)[..., None] / 255.0
    region = out[y0:y1, x0:x1].astype(np.float32)
    out[y0:y1, x0:x1] = np.clip(region * (1 - alpha) + sample.astype(np.float32) * alpha, 0, 255).astype(np.uint8)


def _gap(mesh: np.ndarray, eye: Eye, origin: np.ndarray, rot: np.ndarray, width: float) -> float:
    """The widest lid gap across the middle of the eye, in eye widths."""
    up, lo = _lids(mesh, eye, origin, rot, width)
    xs = np.linspace(0.1, 0.9, 9)
    return float(np.max(lo(xs) - up(xs)))


def _lash_line(out: np.ndarray, image: np.ndarray, src_mesh: np.ndarray, dst_mesh: np.ndarray, eye: Eye,
               width: float, opacity: float, fill: bool) -> None:
    """Draw the upper lid's lash line along the target's upper margin (corner to corner) in the
    source's lash colour; with ``fill`` (lids nearly shut) also over the slit left between them."""
    margin = src_mesh[[eye.left, *eye.upper, eye.right]]
    h, w = image.shape[:2]
    xs = np.clip(np.round(margin[:, 0]).astype(int), 0, w - 1)
    ys = np.clip(np.round(margin[:, 1]).astype(int) - 1, 0, h - 1)
    colour = np.percentile(image[ys, xs].astype(np.float32), 25, axis=0)
    line = dst_mesh[[eye.left, *eye.upper, eye.right]]
    lower = dst_mesh[[eye.left, *eye.lower, eye.right]]
    thickness = max(1, int(round(LASH_WIDTH * width)))
    pts = np.concatenate([line, lower[::-1]])
    x0, y0 = np.floor(pts.min(0)).astype(int) - thickness - 2
    x1, y1 = np.ceil(pts.max(0)).astype(int) + thickness + 3
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    if fill:
        cv2.fillPoly(mask, [np.round((pts - (x0, y0)) * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
    cv2.polylines(mask, [np.round((line - (x0, y0)) * 16).astype(np.int32)], False, 255, thickness, cv2.LINE_AA, shift=4)
    alpha = cv2.GaussianBlur(mask, (0, 0), 0.6).astype(np.float32)[..., None] / 255.0 * opacity
    region = out[y0:y1, x0:x1].astype(np.float32)
    out[y0:y1, x0:x1] = np.clip(region * (1 - alpha) + colour * alpha, 0, 255).astype(np.uint8)


def _eyeball_plate(image: np.ndarray, loop: np.ndarray, iris: np.ndarray, pad: int, widened: bool) -> tuple[np.ndarray | None, tuple[int, int]]:
    """(the source eye box with everything outside its opening replaced by the eyeball continued
    (see the module docstring), the box's top-left corner); None when the opening is too small to
    carry an eyeball. loop: (K, 2) the opening's outline; iris: (5, 2) centre and rim, pixels;
    widened: also replace the band under the upper margin (for a lid raised above it; an eye
    that opens no wider keeps the person's own shadowed iris top there)."""
    h, w = image.shape[:2]
    x0, y0 = np.floor(loop.min(0)).astype(int) - pad
    x1, y1 = np.ceil(loop.max(0)).astype(int) + pad + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 - x0 < 3 or y1 - y0 < 3:
        return None, (0, 0)
    box = np.ascontiguousarray(image[y0:y1, x0:x1])
    # In live reenactment the source is the same target photo every frame: its plates are kept,
    # keyed by the box's pixels, the opening's outline and the iris.
    key = hashlib.blake2b(box.tobytes() + loop.astype(np.float64).tobytes() + iris.astype(np.float64).tobytes() + bytes([widened]),
                          digest_size=16).digest()
    cached = _PLATES.get(key)
    if cached is not None:
        return cached, (int(x0), int(y0))
    inside = np.zeros((y1 - y0, x1 - x0), np.uint8)
    # Shrunk by a pixel so lashes and the lid margin's shadow do not leak into the sclera.
    cv2.fillPoly(inside, [np.round((loop - (x0, y0)) * 16).astype(np.int32)], 255, cv2.LINE_8, shift=4)
    inside = cv2.erode(inside, np.ones((3, 3), np.uint8))
    if int(np.count_nonzero(inside)) < 6:
        return None, (0, 0)
    local = loop - (x0, y0)
    eyeball = _continued_eyeball(box, inside > 0, iris - (x0, y0), local)
    # The source's own pixels, except a band under its upper margin: the lashes' shadow there
    # would draw the old lid line across an eye opened wider.
    width = float(np.hypot(*(local[len(local) // 2] - local[0]))) if len(local) > 2 else 1.0
    upper = np.zeros_like(inside)
    half = len(local) // 2 + 1  # left corner, upper margin, right corner
    cv2.polylines(upper, [np.round(local[:half] * 16).astype(np.int32)], False, 255, 1, cv2.LINE_8, shift=4)
    far = cv2.distanceTransform(255 - upper, cv2.DIST_L2, 3)
    band = max(1.5, UPPER_BAND * width)
    keep = (inside > 0) * (np.clip((far - band) / band + 1.0, 0.0, 1.0) if widened else 1.0)
    keep = cv2.GaussianBlur(keep.astype(np.float32), (0, 0), 0.7)[..., None] * (inside > 0)[..., None]
    plate = np.clip(box.astype(np.float32) * keep + eyeball * (1.0 - keep), 0, 255).astype(np.uint8)
    plate.setflags(write=False)
    if len(_PLATES) >= PLATE_CACHE:
        _PLATES.clear()
    _PLATES[key] = plate
    return plate, (int(x0), int(y0))


def _continued_eyeball(box: np.ndarray, inside: np.ndarray, iris: np.ndarray, loop: np.ndarray) -> np.ndarray:
    """(h, w, 3) float32: an eyeball to show where the source's lids hid it. The iris disc
    (centre iris[0], radius the mean distance of its rim iris[1:]) in the median colour of its
    visible part, darkening towards a limbal rim; sclera elsewhere in the 90th-percentile colour
    of the visible white, shadowed by up to 15 % towards the top of the opening's box."""
    h, w = box.shape[:2]
    centre = iris[0]
    radius = max(float(np.mean(np.hypot(*(iris[1:] - centre).T))), 1.0)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.hypot(xx - centre[0], yy - centre[1]) / radius
    pixels = box.astype(np.float32)
    iris_seen = inside & (r < 0.9) & (r > 0.35)  # not the pupil, not the rim
    white_seen = inside & (r > 1.15)
    iris_colour = np.median(pixels[iris_seen], axis=0) if iris_seen.sum() >= 4 else np.median(pixels[inside], axis=0)
    white = np.percentile(pixels[white_seen] if white_seen.sum() >= 4 else pixels[inside], 90, axis=0)
    top = float(loop[:, 1].min())
    shade = 0.85 + 0.15 * np.clip((yy - top) / max(float(np.ptp(loop[:, 1])), 1.0), 0.0, 1.0)
    rim = np.clip((r - 0.8) / 0.2, 0.0, 1.0)
    disc = np.clip((1.0 - r) * radius + 0.5, 0.0, 1.0)  # anti-aliased edge, one pixel wide
    iris_px = iris_colour[None, None, :] * (1.0 - 0.35 * rim[..., None])
    out = white[None, None, :] * shade[..., None] * (1.0 - disc[..., None]) + iris_px * disc[..., None]
    return out.astype(np.float32)
