"""Paste a generated face crop back into the full frame without visible seams.

Un-crop with the crop's inverse similarity, a feathered mask from the face outline, and a colour
transfer (mean and spread in Lab inside the mask) so the generator's colours meet the photo's.
"""

from __future__ import annotations

import cv2
import numpy as np

from engine.types import Crop

# iBUG outline: jaw, then the brows lifted by LIFT of the brow-to-eye distance, as a closed loop.
_JAW = list(range(0, 17))
_BROWS = list(range(26, 16, -1))
LIFT = 0.6


def face_mask(landmarks68: np.ndarray, size: int, feather: float = 0.04) -> np.ndarray:
    """(size, size) float32 mask in [0, 1]: the face outline, eroded and feathered by ``feather * size``.

    Drawn at a quarter of the size and scaled up: the mask is smooth, so nothing is lost.
    """
    pts = np.asarray(landmarks68, dtype=np.float32)
    brows = pts[_BROWS].copy()
    eyes_y = pts[36:48, 1].mean()
    brows[:, 1] -= LIFT * np.maximum(eyes_y - brows[:, 1], 0)
    outline = np.concatenate([pts[_JAW], brows])
    small = max(16, size // 4)
    f = small / size
    mask = np.zeros((small, small), np.uint8)
    cv2.fillPoly(mask, [cv2.convexHull(np.round(outline * f * 16).astype(np.int32))], 255, lineType=cv2.LINE_AA, shift=4)
    k = max(1, int(round(feather * small)))
    mask = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1)))
    mask = cv2.GaussianBlur(mask, (0, 0), k)
    return cv2.resize(mask, (size, size), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255.0


def match_colour(generated: np.ndarray, reference: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``generated`` (N, N, 3) uint8 BGR with the Lab mean and std of ``reference`` inside ``mask``."""
    inside = mask > 0.5
    if inside.sum() < 16:
        return generated
    g = cv2.cvtColor(generated, cv2.COLOR_BGR2LAB)
    r = cv2.cvtColor(reference, cv2.COLOR_BGR2LAB)
    pg, pr = g[inside].astype(np.float32), r[inside].astype(np.float32)
    mg, mr = pg.mean(0), pr.mean(0)
    gain = np.clip((pr.std(0) + 1e-3) / (pg.std(0) + 1e-3), 0.5, 2.0)
    out = (g.astype(np.float32) - mg) * gain + mr
    return cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_LAB2BGR)


def paste(frame: np.ndarray, generated: np.ndarray, crop: Crop, landmarks68_crop: np.ndarray, colour: bool = True) -> np.ndarray:
    """The frame with ``generated`` (the model's output for ``crop``) blended in. Returns a new array.

    frame: (H, W, 3) uint8 BGR; generated: (N, N, 3) uint8 BGR; landmarks68_crop: (68, 2) crop
    pixels of the face as generated (they shape the mask).
    """
    n = crop.size
    if generated.shape[:2] != (n, n):
        generated = cv2.resize(generated, (n, n), interpolation=cv2.INTER_CUBIC)
    mask = face_mask(landmarks68_crop, n)
    if colour:
        generated = match_colour(generated, crop.image, mask)
    corners = np.array([[0, 0], [n, 0], [0, n], [n, n]], np.float64) @ crop.inverse[:, :2].T + crop.inverse[:, 2]
    h, w = frame.shape[:2]
    x0, y0 = np.maximum(np.floor(corners.min(0)).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(corners.max(0)).astype(int) + 1, (w, h))
    out = frame.copy()
    if x1 <= x0 or y1 <= y0:
        return out
    shift = crop.inverse.copy()
    shift[:, 2] -= (x0, y0)
    size = (int(x1 - x0), int(y1 - y0))
    face = cv2.warpAffine(generated, shift, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    alpha = cv2.warpAffine(mask, shift, size, flags=cv2.INTER_LINEAR, borderValue=0)[..., None]
    region = out[y0:y1, x0:x1].astype(np.float32)
    out[y0:y1, x0:x1] = np.clip(region * (1 - alpha) + face.astype(np.float32) * alpha, 0, 255).astype(np.uint8)
    return out
