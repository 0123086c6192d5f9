"""Face landmarks with MediaPipe FaceMesh (478 points, the bundled models; no download).

Two running modes, as in MediaPipe's own API:

* :meth:`FaceTracker.detect` — a still photo: every face, largest first, with a detector score.
* :meth:`FaceTracker.track` — a video frame at a timestamp: one face, followed from frame to frame,
  One-Euro smoothed, re-detected by FaceMesh itself when lost. Frames must come in time order.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import cv2
import numpy as np

from engine.errors import FaceTooSmallError, InputError, NoFaceError
from engine.face.ibug68 import mesh_to_ibug68
from engine.face.smoothing import OneEuroFilter, OneEuroParams
from engine.types import Detection, Face

log = logging.getLogger(__name__)

# Detection runs on a copy no larger than this (longest side, px); landmarks are scaled back.
DETECT_MAX_SIDE = 1280
# A face smaller than this (px, longest side of its mesh box) cannot be edited convincingly.
MIN_FACE_SIZE = 64
# Side (px) of the overlapping tiles searched for a face too small for the detector's full view.
SMALL_FACE_TILE = 256


@dataclass(frozen=True)
class TrackerOptions:
    """max_faces: the most faces :meth:`FaceTracker.detect` returns; min_confidence: detector threshold;
    smoothing: One-Euro parameters for :meth:`FaceTracker.track` (None: raw landmarks);
    min_face_size: px, smaller faces raise :class:`FaceTooSmallError`."""

    max_faces: int = 4
    min_confidence: float = 0.5
    smoothing: OneEuroParams | None = field(default_factory=OneEuroParams)
    min_face_size: int = MIN_FACE_SIZE


def _mp():
    import mediapipe as mp  # heavy import (~1 s): only when a tracker is created

    return mp


class FaceTracker:
    """Owns the MediaPipe graphs; use as a context manager or call :meth:`close`."""

    def __init__(self, options: TrackerOptions) -> None:
        self.options = options
        self._mesh_static = None
        self._detector = None
        self._mesh_video = None
        self._filter = OneEuroFilter(options.smoothing) if options.smoothing else None
        self._last_t: float | None = None
        self._confidence = 0.0

    @classmethod
    def create(cls, options: TrackerOptions | None = None) -> "FaceTracker":
        return cls(options or TrackerOptions())

    def __enter__(self) -> "FaceTracker":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def set_smoothing(self, params: OneEuroParams | None) -> None:
        """Change the One-Euro smoothing of :meth:`track` (None: raw landmarks); takes effect on
        the next frame, the filter starting afresh. Safe to call from another thread."""
        self._filter = OneEuroFilter(params) if params else None

    def _static_graphs(self):
        """The photo-mode FaceMesh and the full-range detector, built on first use."""
        if self._mesh_static is None:
            mp = _mp()
            self._mesh_static = mp.solutions.face_mesh.FaceMesh(
                static_image_mode=True,
                max_num_faces=1,
                refine_landmarks=True,
                min_detection_confidence=self.options.min_confidence,
            )
            self._detector = mp.solutions.face_detection.FaceDetection(
                model_selection=1, min_detection_confidence=self.options.min_confidence
            )
        return self._mesh_static, self._detector

    def close(self) -> None:
        for graph in (self._mesh_static, self._detector, self._mesh_video):
            if graph is not None:
                graph.close()
        self._mesh_static = self._detector = self._mesh_video = None

    # ---- still photos -------------------------------------------------------------------------

    def detect(self, image: np.ndarray, face_index: int | None = None) -> Detection:
        """All faces in a BGR photo, largest first; ``face_index`` picks one (default the largest).

        image: (H, W, 3) uint8 BGR. Raises :class:`NoFaceError` when there is none,
        :class:`FaceTooSmallError` when the chosen one is too small, :class:`InputError` for a
        ``face_index`` that does not exist.
        """
        small, scale = _downscale(image)
        rgb = cv2.cvtColor(small, cv2.COLOR_BGR2RGB)
        boxes = self._detector_boxes(rgb)
        if not boxes:
            self._refuse_turned(rgb)
        faces = self._meshes_per_detection(rgb, scale, boxes)
        if not faces:
            raise self._no_face(rgb, scale)
        faces = sorted(faces, key=lambda f: f.size, reverse=True)[: self.options.max_faces]
        notes: list[str] = []
        if face_index is None:
            chosen = 0
            if len(faces) > 1:
                notes.append(f"{len(faces)} faces found; using the largest (face 0; the others are 1..{len(faces) - 1}, largest first)")
        elif 0 <= face_index < len(faces):
            chosen = face_index
        else:
            raise InputError(f"face {face_index} does not exist: {len(faces)} face(s) found (0..{len(faces) - 1})")
        face = faces[chosen]
        if face.size < self.options.min_face_size:
            raise self._too_small(face.size)
        return Detection(faces=tuple(faces), image_size=(image.shape[1], image.shape[0]), chosen=chosen, notes=tuple(notes))

    def _too_small(self, size: float) -> FaceTooSmallError:
        return FaceTooSmallError(
            f"the face is too small: {size:.0f} px across, at least {self.options.min_face_size} px is needed"
        )

    def _refuse_turned(self, rgb: np.ndarray) -> None:
        """Raise NoFaceError when the face is sideways or upside down: the detector finds it, and
        FaceMesh meshes it at a size worth editing, only in a copy turned by 90, 180 or 270
        degrees. (On the photo as it is, FaceMesh would fit an upright mesh to it and put the
        mouth over the eyes.)"""
        for turns, how in ((2, "upside down; rotate the photo 180 degrees"),
                           (1, "on its side; rotate the photo 90 degrees anticlockwise"),
                           (3, "on its side; rotate the photo 90 degrees clockwise")):
            turned = np.ascontiguousarray(np.rot90(rgb, turns))
            boxes = self._detector_boxes(turned)
            if boxes and any(f.size >= self.options.min_face_size for f in self._meshes_per_detection(turned, 1.0, boxes)):
                raise NoFaceError(f"the face is {how} and try again")

    def _no_face(self, rgb: np.ndarray, scale: float) -> NoFaceError:
        """The error for an image where no face could be meshed: a face too small for the detector
        at full view is looked for in overlapping tiles, to say "too small" rather than "no face"."""
        h, w = rgb.shape[:2]
        step = SMALL_FACE_TILE // 2
        widths = []
        for top in range(0, max(1, h - step), step):
            for left in range(0, max(1, w - step), step):
                tile = np.ascontiguousarray(rgb[top:top + SMALL_FACE_TILE, left:left + SMALL_FACE_TILE])
                widths += [(x1 - x0) * tile.shape[1] / scale for _, (x0, _, x1, _) in self._detector_boxes(tile)]
        if widths:
            return self._too_small(max(widths))
        return NoFaceError("no face found in the image")

    def _meshes_per_detection(
        self, rgb: np.ndarray, scale: float, boxes: list[tuple[float, tuple[float, float, float, float]]]
    ) -> list[Face]:
        """One FaceMesh per detector box (the whole image when there is none), each run on a square
        crop around it.

        FaceMesh's own detector is short-range and letterboxes the whole image to 128 px, so in a
        wide group photo it misses the smaller faces; the full-range detector does not.
        """
        h, w = rgb.shape[:2]
        boxes = boxes or [(0.0, (0.0, 0.0, 1.0, 1.0))]
        faces: list[Face] = []
        for score, (x0, y0, x1, y1) in boxes:
            side = 2.0 * max((x1 - x0) * w, (y1 - y0) * h)
            cx, cy = (x0 + x1) / 2 * w, (y0 + y1) / 2 * h
            left, top = int(round(cx - side / 2)), int(round(cy - side / 2))
            size = int(round(side))
            crop = _crop_padded(rgb, left, top, size)
            result = self._static_graphs()[0].process(crop)
            for lms in result.multi_face_landmarks or []:
                face = _face_from_landmarks(lms.landmark, size, size, 1.0, score)
                face = _make_face((face.mesh + (left, top)) / scale, face.mesh_z / scale, score)
                if all(_iou(face.bbox, other.bbox) < 0.5 for other in faces):
                    faces.append(face)
        return faces

    def _detector_boxes(self, rgb: np.ndarray) -> list[tuple[float, tuple[float, float, float, float]]]:
        found = self._static_graphs()[1].process(rgb).detections or []
        boxes = []
        for det in found:
            rb = det.location_data.relative_bounding_box
            boxes.append((float(det.score[0]), (rb.xmin, rb.ymin, rb.xmin + rb.width, rb.ymin + rb.height)))
        return boxes

    # ---- video ----------------------------------------------------------------------------------

    def track(self, frame: np.ndarray, timestamp_ms: float) -> Face | None:
        """The main face in a video frame, smoothed over time; None when no face is visible.

        frame: (H, W, 3) uint8 BGR. When the face is lost the smoothing state resets, and FaceMesh
        re-detects on the following frames. Frames with a timestamp not after the last one reset
        the filter (a new clip).
        """
        if self._mesh_video is None:
            self._mesh_video = _mp().solutions.face_mesh.FaceMesh(
                static_image_mode=False,
                max_num_faces=1,
                refine_landmarks=True,
                min_detection_confidence=self.options.min_confidence,
                min_tracking_confidence=0.5,
            )
        small, scale = _downscale(frame)
        rgb = cv2.cvtColor(small, cv2.COLOR_BGR2RGB)
        result = self._mesh_video.process(rgb)
        if not result.multi_face_landmarks:
            self._lost()
            return None
        h, w = small.shape[:2]
        lms = result.multi_face_landmarks[0].landmark
        if self._last_t is None:
            # (Re-)acquired: score it once with the detector; tracking keeps it while the face stays.
            self._confidence = _match_score(lms, self._detector_boxes(rgb), w, h)
        face = _face_from_landmarks(lms, w, h, scale, self._confidence)
        t = timestamp_ms / 1000.0
        smoother = self._filter  # read once: set_smoothing may swap it from another thread
        if smoother is not None:
            xyz = smoother(face.mesh3d, t)
            face = _make_face(xyz[:, :2], xyz[:, 2], face.confidence)
        self._last_t = t
        return face

    def _lost(self) -> None:
        self._last_t = None
        self._confidence = 0.0
        if self._filter is not None:
            self._filter.reset()


def _downscale(image: np.ndarray) -> tuple[np.ndarray, float]:
    if image is None or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InputError("expected an (H, W, 3) uint8 BGR image")
    h, w = image.shape[:2]
    scale = min(1.0, DETECT_MAX_SIDE / max(h, w))
    if scale < 1.0:
        image = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    return image, scale


def _crop_padded(image: np.ndarray, left: int, top: int, size: int) -> np.ndarray:
    """A size x size window of ``image`` at (left, top); outside the image is black."""
    h, w = image.shape[:2]
    out = np.zeros((size, size, 3), image.dtype)
    sx0, sy0 = max(left, 0), max(top, 0)
    sx1, sy1 = min(left + size, w), min(top + size, h)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - top:sy1 - top, sx0 - left:sx1 - left] = image[sy0:sy1, sx0:sx1]
    return out


def _face_from_landmarks(landmarks, w: int, h: int, scale: float, confidence: float) -> Face:
    arr = np.array([(p.x * w, p.y * h, p.z * w) for p in landmarks], dtype=np.float32) / scale
    return _make_face(arr[:, :2], arr[:, 2], confidence)


def _make_face(mesh: np.ndarray, z: np.ndarray, confidence: float) -> Face:
    mesh = np.ascontiguousarray(mesh, dtype=np.float32)
    x0, y0 = mesh.min(axis=0)
    x1, y1 = mesh.max(axis=0)
    return Face(
        mesh=mesh,
        mesh_z=np.ascontiguousarray(z, dtype=np.float32),
        landmarks68=mesh_to_ibug68(mesh),
        confidence=float(confidence),
        bbox=(float(x0), float(y0), float(x1), float(y1)),
    )


def _match_score(landmarks, boxes, w: int, h: int) -> float:
    """The detector score of the box that overlaps this mesh most (IoU), 0 when none does."""
    xs = [p.x for p in landmarks]
    ys = [p.y for p in landmarks]
    mesh_box = (min(xs), min(ys), max(xs), max(ys))
    best, best_iou = 0.0, 0.1
    for score, box in boxes:
        iou = _iou(mesh_box, box)
        if iou > best_iou:
            best, best_iou = score, iou
    return best


def _iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
