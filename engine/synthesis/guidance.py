"""The warp-guided refiner's geometry input: the driven FaceMesh drawn as three [0, 1] channels.

Paper 2 guides its generator with fiducial heatmaps; at 256 px, 68 Gaussian channels cost ~20 ms
per frame to fill, so the same geometry is given as rendered contours (LandmarkGAN's "landmark
image" idea), drawn with OpenCV in well under a millisecond:

    channel 0  the mouth interior: the filled inner-lip polygon (where teeth, tongue and the
               oral cavity must be painted)
    channel 1  feature contours: brows, eyes, nose, outer and inner lips, face oval (1 px lines at
               256 px, thicker at larger sizes)
    channel 2  regions: the face (0.5) and the eye openings (1.0)

Only geometry is drawn, never colour, so the same map serves a flipped or jittered training crop:
mirroring the mesh's coordinates mirrors the drawing, whatever the vertex order.
"""

from __future__ import annotations

import cv2
import numpy as np

FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152,
             148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
LIPS_OUTER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185)
LIPS_INNER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82, 81, 80, 191)
EYE_RIGHT = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
EYE_LEFT = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
BROW_RIGHT = (46, 53, 52, 65, 55, 70, 63, 105, 66, 107)
BROW_LEFT = (276, 283, 282, 295, 285, 300, 293, 334, 296, 336)
NOSE_BRIDGE = (168, 6, 197, 195, 5, 4, 1, 2)
NOSE_BASE = (98, 97, 2, 326, 327)
NOSE_WINGS = (64, 48, 115, 220, 45, 4, 275, 440, 344, 278, 294)

CLOSED = (FACE_OVAL, LIPS_OUTER, LIPS_INNER, EYE_RIGHT, EYE_LEFT)
OPEN = (BROW_RIGHT, BROW_LEFT, NOSE_BRIDGE, NOSE_BASE, NOSE_WINGS)
SHIFT = 4  # fractional bits for OpenCV's sub-pixel drawing
CHANNELS = 3


def _fixed(points: np.ndarray) -> np.ndarray:
    return np.round(points * (1 << SHIFT)).astype(np.int32)


def guidance_map(mesh: np.ndarray, size: int, out: np.ndarray | None = None) -> np.ndarray:
    """(size, size, 3) float32 in [0, 1] (see the module docstring) for a (478, 2) mesh in crop pixels.

    ``out``: an optional (size, size, 3) float32 buffer to fill (the runtime reuses one).
    """
    pts = np.asarray(mesh, dtype=np.float64)[:, :2]
    thickness = max(1, int(round(size / 256)))
    mouth = np.zeros((size, size), np.uint8)
    lines = np.zeros((size, size), np.uint8)
    regions = np.zeros((size, size), np.uint8)
    cv2.fillPoly(mouth, [_fixed(pts[list(LIPS_INNER)])], 255, cv2.LINE_AA, SHIFT)
    cv2.polylines(lines, [_fixed(pts[list(c)]) for c in CLOSED], True, 255, thickness, cv2.LINE_AA, SHIFT)
    cv2.polylines(lines, [_fixed(pts[list(c)]) for c in OPEN], False, 255, thickness, cv2.LINE_AA, SHIFT)
    cv2.fillPoly(regions, [_fixed(pts[list(FACE_OVAL)])], 128, cv2.LINE_AA, SHIFT)
    cv2.fillPoly(regions, [_fixed(pts[list(EYE_RIGHT)]), _fixed(pts[list(EYE_LEFT)])], 255, cv2.LINE_AA, SHIFT)
    if out is None:
        out = np.empty((size, size, CHANNELS), np.float32)
    stacked = cv2.merge([mouth, lines, regions])
    np.multiply(stacked, 1.0 / 255.0, out=out, casting="unsafe")
    return out


def region_mask(mesh: np.ndarray, size: int, grow: float = 0.06) -> np.ndarray:
    """(size, size) float32 in [0, 1]: the face oval grown by ``grow`` of its width, feathered.

    The part of a crop the refiner is trained and allowed to change (hair and background stay the
    warp's); mesh: (478, 2) crop pixels.
    """
    oval = np.asarray(mesh, dtype=np.float64)[list(FACE_OVAL), :2]
    centre = oval.mean(axis=0)
    width = float(np.ptp(oval[:, 0]))
    grown = centre + (oval - centre) * (1.0 + grow)
    mask = np.zeros((size, size), np.uint8)
    cv2.fillPoly(mask, [_fixed(grown)], 255, cv2.LINE_AA, SHIFT)
    sigma = max(1.0, 0.02 * width)
    return cv2.GaussianBlur(mask, (0, 0), sigma).astype(np.float32) / 255.0


def mouth_box(mesh: np.ndarray, size: int, margin: float = 0.35) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) square box around the outer lips with ``margin`` of their width each side,
    clipped to the crop; mesh: (478, 2) crop pixels."""
    lips = np.asarray(mesh, dtype=np.float64)[list(LIPS_OUTER), :2]
    centre = (lips.min(0) + lips.max(0)) / 2
    half = 0.5 * float(np.ptp(lips[:, 0])) * (1 + 2 * margin)
    x0, y0 = np.floor(centre - half).astype(int)
    x1, y1 = np.ceil(centre + half).astype(int)
    return max(x0, 0), max(y0, 0), min(x1, size), min(y1, size)
