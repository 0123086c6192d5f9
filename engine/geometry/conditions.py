"""Condition tensors the five generator families take, computed from landmarks in crop pixels.

All functions are single-sample NumPy; datasets call them per item and the runtime per frame.
"""

from __future__ import annotations

import cv2
import numpy as np

DEFAULT_SIGMA = 2.0


def heatmaps68(landmarks: np.ndarray, size: int, sigma: float = DEFAULT_SIGMA) -> np.ndarray:
    """One Gaussian channel per landmark (paper 2, section 4.2; paper 1's geometry input).

    landmarks: (K, 2) float crop pixels. Returns (K, size, size) float32 in [0, 1], each channel
    peaking at 1 on its point. sigma is in pixels of a 128 px crop and scales with ``size``
    (the papers are silent on sigma; 2 px at 128 px is the pose-estimation convention they cite).
    """
    s = sigma * size / 128.0
    grid = np.arange(size, dtype=np.float32)
    pts = np.asarray(landmarks, dtype=np.float32)
    gx = np.exp(-((grid[None, :] - pts[:, 0:1]) ** 2) / (2 * s * s))  # (K, W)
    gy = np.exp(-((grid[None, :] - pts[:, 1:2]) ** 2) / (2 * s * s))  # (K, H)
    return (gy[:, :, None] * gx[:, None, :]).astype(np.float32)


def heatmap1(landmarks: np.ndarray, size: int, sigma: float = DEFAULT_SIGMA) -> np.ndarray:
    """All landmarks in one channel: the pixel-wise max of :func:`heatmaps68`. (1, size, size)."""
    return heatmaps68(landmarks, size, sigma).max(axis=0, keepdims=True)


def label_maps(label: int, n_labels: int, size: int, intensity: float = 1.0) -> np.ndarray:
    """Paper 1, Fig. 4: a one-hot label spread into ``n_labels`` constant maps in [-1, 1].

    The chosen label's map is ``2 * intensity - 1`` (1 at full intensity), every other map -1.
    Intensities above 1 are clipped to 1 here: the paper's maps encode a category, not a strength.
    Returns (n_labels, size, size) float32.
    """
    maps = np.full((n_labels, size, size), -1.0, dtype=np.float32)
    maps[label] = 2.0 * float(np.clip(intensity, 0.0, 1.0)) - 1.0
    return maps


def one_hot(label: int, n_labels: int) -> np.ndarray:
    """(n_labels,) float32 one-hot vector."""
    v = np.zeros(n_labels, dtype=np.float32)
    v[label] = 1.0
    return v


def landmark_image(image: np.ndarray, landmarks: np.ndarray, radius: int = 4) -> np.ndarray:
    """LandmarkGAN's coloured landmark image (paper 5, section 3.1, S_l = 4).

    Every pixel within ``radius`` of a landmark takes the colour of ``image`` at that landmark;
    all other pixels are white. image: (N, N, 3) uint8; landmarks: (K, 2) crop pixels.
    Returns (N, N, 3) uint8.
    """
    h, w = image.shape[:2]
    out = np.full_like(image, 255)
    for x, y in np.asarray(landmarks, dtype=np.float32):
        xi, yi = int(round(float(x))), int(round(float(y)))
        colour = image[min(max(yi, 0), h - 1), min(max(xi, 0), w - 1)]
        cv2.circle(out, (xi, yi), radius, tuple(int(c) for c in colour), thickness=-1, lineType=cv2.LINE_8)
    return out


def to_unit_range(image: np.ndarray) -> np.ndarray:
    """(N, N, 3) uint8 BGR -> (3, N, N) float32 RGB in [-1, 1], the generators' image format."""
    rgb = image[:, :, ::-1].astype(np.float32)
    return np.ascontiguousarray((rgb / 127.5 - 1.0).transpose(2, 0, 1))


def from_unit_range(tensor: np.ndarray) -> np.ndarray:
    """(3, N, N) float RGB in [-1, 1] -> (N, N, 3) uint8 BGR; inverse of :func:`to_unit_range`."""
    rgb = np.clip((np.asarray(tensor, dtype=np.float32).transpose(1, 2, 0) + 1.0) * 127.5, 0, 255)
    return np.ascontiguousarray(rgb[:, :, ::-1].round().astype(np.uint8))
