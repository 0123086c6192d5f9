"""The engine's public API (no Qt): photo edits, expression transfer and live reenactment.

Photos (MediaPipe-style "image" mode)::

    with Engine.create(EngineConfig(model="warp")) as engine:
        result = engine.edit_expression(photo, "happy", 1.0)      # EditResult
        result = engine.transfer(source, target, source_neutral)

Video / live ("video" mode, frames in time order)::

    with Reenactor.create(ReenactConfig(target_image=photo)) as reenactor:
        track = reenactor.track(frame, timestamp_ms)   # None when no face
        output = reenactor.render(track)               # (H, W, 3) uint8 BGR

Images are (H, W, 3) uint8 BGR; landmarks float32 pixels of the image they belong to.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from engine.errors import InputError, NoFaceError
from engine.face.ibug68 import IBUG_REGIONS, MESH_TO_IBUG68, mesh_to_ibug68
from engine.face.smoothing import OneEuroParams
from engine.face.tracker import FaceTracker, TrackerOptions
from engine.geometry.align import STABLE68
from engine.geometry.drags import drag_field
from engine.geometry.expressions import ExpressionTemplates, densify, expression_target, label_fields, nearest_label
from engine.geometry.faceframe import FaceFrame
from engine.geometry.head_pose import HeadPose, apply_pose, head_motion, measure_pose
from engine.geometry.labels import check_intensity, label_index
from engine.geometry.retarget import RegionGains, estimate_neutral3d, motion_in_face_units, retarget
from engine.geometry.shape_model import ShapeModel
from engine.io.landmarks_json import LandmarkEdit, check_edits_near_face
from engine.recognise import Recognition, from_scores, label_scores
from engine.synthesis.photo_generators import DEFAULT_MODEL, Generator, LearnedGenerator, RenderRequest, open_generator
from engine.synthesis.warp import rings, topology
from engine.types import Detection, Face

log = logging.getLogger(__name__)

# The iBUG points refinement corrects: the mouth and the stable points alignment rests on.
REFINED68 = list(IBUG_REGIONS["mouth"]) + list(STABLE68)


@dataclass(frozen=True)
class EngineConfig:
    """model: 'warp' or a model name/folder; backend: 'auto' or a backend name;
    templates: expression template file (None: the bundled one); gains: retargeting gains;
    refine: closed-loop passes for photos: the output's landmarks are measured again and the
    target geometry corrected by what the render missed (0 = off; each pass costs one render and
    one detection); on_status: hears about backend fallbacks of a learned model."""

    model: str = DEFAULT_MODEL
    backend: str = "auto"
    templates: Path | None = None
    gains: RegionGains = field(default_factory=RegionGains)
    refine: int = 2
    on_status: Callable[[str], None] | None = None


@dataclass(frozen=True)
class EditResult:
    """image: the output photo; mesh (478, 2) and landmarks68 (68, 2): the target geometry in
    its pixels; notes: things the user should know (several faces, estimated neutral...)."""

    image: np.ndarray
    mesh: np.ndarray
    landmarks68: np.ndarray
    notes: tuple[str, ...] = ()


class Engine:
    """Photo-mode engine: one tracker, one generator, the templates and the shape model."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.templates = ExpressionTemplates.load(config.templates)
        self.shape_model = ShapeModel.load()
        self.generator: Generator = open_generator(config.model, config.backend, on_status=config.on_status)
        self._tracker = FaceTracker.create(TrackerOptions(smoothing=None))

    @classmethod
    def create(cls, config: EngineConfig | None = None) -> "Engine":
        return cls(config or EngineConfig())

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._tracker.close()
        self.generator.close()

    def render(self, request: RenderRequest, refine: int | None = None) -> np.ndarray:
        """Render, then refine ``refine`` times (default ``config.refine``) towards ``request.dst_mesh``
        (see EngineConfig); drafts while dragging pass 0.

        Only the mouth and the eye-corner/nose points the alignment rests on are corrected (as
        handles, spread smoothly like a landmark edit); elsewhere the residual is mostly detector
        noise, and correcting every vertex distorted the face (London held-out smiles, 2 passes:
        whole mesh: mouth error 0.019 IOD, dlib identity distance of 'happy' 0.30; these handles:
        0.016 and 0.22; no refinement: 0.025 and 0.20).
        """
        out = self.generator.render(request)
        asked = np.asarray(request.dst_mesh, dtype=np.float64)
        asked68 = mesh_to_ibug68(asked)
        frame = FaceFrame.of(asked68)
        current = asked.copy()
        for _ in range(self.config.refine if refine is None else refine):
            try:
                seen = self._tracker.detect(out).faces
            except NoFaceError:
                break
            # The output face nearest the edited one (the photo may hold others).
            got = min(seen, key=lambda f: float(np.abs(f.mesh - asked).mean()))
            handles = np.zeros((68, 2))
            handles[REFINED68] = frame.to_face(asked68[REFINED68]) - frame.to_face(got.landmarks68[REFINED68])
            current = current + frame.vectors_to_image(densify(frame.to_face(current), handles))
            out = self.generator.render(replace(request, dst_mesh=current.astype(np.float32)))
        return out

    def detect(self, image: np.ndarray, face_index: int | None = None) -> Detection:
        """All faces in a photo, largest first (see FaceTracker.detect)."""
        return self._tracker.detect(image, face_index)

    def expression_mesh(self, face: Face, label: str, intensity: float) -> np.ndarray:
        """(478, 2) target mesh: ``label`` at ``intensity`` on the face's neutral shape.

        The photo is taken as the person's neutral, except for 'neutral' itself, which removes
        the expression with the shape model's neutral estimate.
        """
        label_index(label)
        check_intensity(intensity)
        if label == "neutral":
            neutral = estimate_neutral3d(face.mesh3d, self.shape_model)[:, :2]
            return (face.mesh + min(intensity, 1.0) * (neutral - face.mesh)).astype(np.float32)
        return expression_target(face.mesh, label, intensity, self.templates)

    def edit_expression(self, image: np.ndarray, label: str, intensity: float = 1.0, face_index: int | None = None) -> EditResult:
        """``label`` at ``intensity`` on the photo's face. A model that makes its own geometry from
        the label (LandmarkGAN's stage I, G2-GAN's G_R for 'neutral') does so, unrefined; the
        result's landmarks68 are then stage I's when it generated them."""
        detection = self.detect(image, face_index)
        dst = self.expression_mesh(detection.face, label, intensity)
        request = RenderRequest(image, detection.face, dst, label, intensity, by_label=True)
        own = isinstance(self.generator, LearnedGenerator) and self.generator.own_geometry(request)
        out = self.render(request, refine=0 if own else None)
        generated = self.generator.last_landmarks68 if isinstance(self.generator, LearnedGenerator) else None
        return EditResult(out, dst, mesh_to_ibug68(dst) if generated is None else generated, detection.notes)

    def landmark_mesh(self, face: Face, edits: list[LandmarkEdit]) -> np.ndarray:
        """(478, 2) target mesh with the 68-point ``edits`` applied (the last edit of a point wins).

        Each edited point lands where it was dropped and takes a smooth neighbourhood along;
        nothing farther than engine.geometry.drags.DRAG_RADIUS face units from every edited point
        moves, and a drag that would turn over a triangle of the warp is shortened until none does.
        """
        if not edits:
            return face.mesh.copy()
        last = {e.index: e for e in edits}
        frame = FaceFrame.of(face.landmarks68)
        current = frame.to_face(face.landmarks68)
        moved = frame.to_face(np.array([[e.x, e.y] for e in last.values()], dtype=np.float64))
        values = moved - current[list(last)]
        handles = [MESH_TO_IBUG68[i] for i in last]
        mesh_face = frame.to_face(face.mesh)
        drag = drag_field(mesh_face, handles, values, topology().triangles, still=rings(mesh_face))
        return (face.mesh + frame.vectors_to_image(drag.field)).astype(np.float32)

    def edit_landmarks(self, image: np.ndarray, edits: list[LandmarkEdit], face_index: int | None = None) -> EditResult:
        detection = self.detect(image, face_index)
        check_edits_near_face(edits, detection.face.landmarks68)
        dst = self.landmark_mesh(detection.face, edits)
        out = self.render(RenderRequest(image, detection.face, dst))
        return EditResult(out, dst, mesh_to_ibug68(dst), detection.notes)

    def transfer(
        self,
        source: np.ndarray,
        target: np.ndarray,
        source_neutral: np.ndarray | None = None,
        face_index: int | None = None,
        follow_pose: bool = True,
    ) -> EditResult:
        """The expression of ``source`` on the identity of ``target`` (taken as neutral).

        Without ``source_neutral`` the source's neutral shape is estimated with the shape model.
        With ``follow_pose`` the target's head also turns, shifts and scales as the source's head
        did from its neutral photo (as live reenactment does): the small head motion that comes
        with a real expression is part of how it looks (held-out same-person transfer with the
        warp: crop SSIM 0.779 -> 0.804, mouth error 0.0129 -> 0.0090 IOD; docs/results.md).
        Without ``source_neutral`` the estimated neutral shares the source's pose: nothing turns.
        """
        src = self.detect(source).face
        tgt = self.detect(target, face_index)
        notes = list(tgt.notes)
        if source_neutral is not None:
            neutral3d = self.detect(source_neutral).face.mesh3d
        else:
            neutral3d = estimate_neutral3d(src.mesh3d, self.shape_model)
            notes.append("no neutral photo of the source: its neutral shape was estimated")
        dst = retarget(src.mesh3d, neutral3d, tgt.face.mesh, self.config.gains)
        label, intensity = self._label_of(dst, tgt.face)
        motion = None
        if follow_pose:
            dst = apply_pose(dst, tgt.face.mesh3d, measure_pose(neutral3d, src.mesh3d)).astype(np.float32)
            motion = head_motion(tgt.face.mesh, dst)
        out = self.render(RenderRequest(target, tgt.face, dst, label, intensity, source_image=source, source_face=src,
                                        head_motion=motion))
        return EditResult(out, dst, mesh_to_ibug68(dst), tuple(notes))

    def _label_of(self, dst_mesh: np.ndarray, face: Face) -> tuple[str, float]:
        """The expression label of a driven target mesh, for label-conditioned models."""
        frame = FaceFrame.of(face.landmarks68)
        neutral = frame.to_face(face.mesh)
        return nearest_label(frame.to_face(dst_mesh) - neutral, label_fields(self.templates, neutral))


@dataclass(frozen=True)
class ReenactConfig:
    """target_image: (H, W, 3) uint8 BGR identity photo; face_index: which face of it;
    smoothing: One-Euro parameters for the driving face (None: raw); on_status: hears about
    backend fallbacks of a learned model (called from the rendering thread); follow_pose: the
    target's head follows the driver's roll, yaw, pitch (each clamped to +- 20 degrees), shift
    and scale relative to the neutral reference (False: it stays as in the photo)."""

    target_image: np.ndarray
    model: str = DEFAULT_MODEL
    backend: str = "auto"
    face_index: int | None = None
    gains: RegionGains = field(default_factory=RegionGains)
    smoothing: OneEuroParams | None = field(default_factory=OneEuroParams)
    on_status: Callable[[str], None] | None = None
    follow_pose: bool = True


@dataclass(frozen=True)
class TrackResult:
    """The driving face of one frame; ``image`` is kept for image-driven models."""

    face: Face
    timestamp_ms: float
    image: np.ndarray


class Reenactor:
    """Drives the target photo with a face in a video: track, then render (two stages, so a
    pipeline can track frame n+1 while rendering frame n). Frames must come in time order."""

    def __init__(self, config: ReenactConfig) -> None:
        if config.target_image is None or config.target_image.ndim != 3:
            raise InputError("the target must be an (H, W, 3) image")
        self.config = config
        self.shape_model = ShapeModel.load()
        with FaceTracker.create(TrackerOptions(smoothing=None)) as still:
            self.target: Detection = still.detect(config.target_image, config.face_index)
        self._tracker = FaceTracker.create(TrackerOptions(max_faces=1, smoothing=config.smoothing))
        self.generator: Generator = open_generator(
            config.model, config.backend, probe_face=(config.target_image, self.target.face), on_status=config.on_status
        )
        self._neutral3d: np.ndarray | None = None
        self.neutral_estimated = True
        frame = FaceFrame.of(self.target.face.landmarks68)
        self._target_frame = frame
        self._target_neutral_face = frame.to_face(self.target.face.mesh)
        self._templates = ExpressionTemplates.load()
        self._label_fields = label_fields(self._templates, self._target_neutral_face)
        # The tracking, render and UI threads share the reference: it is only ever replaced whole,
        # never set back to None once known, and the driver's label fields are kept with the
        # neutral they were computed on.
        self._reestimate = False
        self._driver_fields: tuple[np.ndarray, dict[str, np.ndarray]] | None = None

    @classmethod
    def create(cls, config: ReenactConfig) -> "Reenactor":
        return cls(config)

    def __enter__(self) -> "Reenactor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._tracker.close()
        self.generator.close()

    @property
    def target_face(self) -> Face:
        return self.target.face

    def set_smoothing(self, params: OneEuroParams | None) -> None:
        """Change the driving face's landmark smoothing without rebuilding (None: raw landmarks)."""
        self.config = replace(self.config, smoothing=params)
        self._tracker.set_smoothing(params)

    def set_follow_pose(self, on: bool) -> None:
        """Let the target's head follow the driver's pose (True) or hold it still (False), from the
        next frame on, without rebuilding."""
        self.config = replace(self.config, follow_pose=on)

    def set_neutral(self, face: Face) -> None:
        """Use this driving face as the neutral reference ("capture neutral")."""
        self._neutral3d = face.mesh3d.astype(np.float64)
        self._reestimate = False
        self.neutral_estimated = False

    def clear_neutral(self) -> None:
        """Forget the neutral reference: the next tracked face gives an estimated one again (the
        old one stays in use until then, so a frame being rendered meanwhile keeps a reference)."""
        self._reestimate = True
        self.neutral_estimated = True

    def track(self, frame: np.ndarray, timestamp_ms: float) -> TrackResult | None:
        face = self._tracker.track(frame, timestamp_ms)
        if face is None:
            return None
        if self._neutral3d is None or self._reestimate:
            self._neutral3d = estimate_neutral3d(face.mesh3d, self.shape_model)
            self._reestimate = False
            log.info("no neutral reference captured: estimated one from the first tracked face")
        return TrackResult(face=face, timestamp_ms=timestamp_ms, image=frame)

    def head_pose(self, track: TrackResult) -> HeadPose:
        """The tracked head's pose relative to the neutral reference (unclamped)."""
        neutral3d = self._neutral3d
        assert neutral3d is not None  # set by the track() that made ``track``
        return measure_pose(neutral3d, track.face.mesh3d)

    def recognise(self, track: TrackResult) -> Recognition:
        """The driver's expression against the neutral reference: engine.recognise's geometric
        method, measured from the captured neutral (or the estimated one) rather than a fresh
        estimate per frame."""
        neutral3d = self._neutral3d
        assert neutral3d is not None  # set by the track() that made ``track``
        motion, frame = motion_in_face_units(track.face.mesh3d, neutral3d)
        cached = self._driver_fields
        if cached is None or cached[0] is not neutral3d:
            cached = self._driver_fields = (neutral3d, label_fields(self._templates, frame.to_face(neutral3d[:, :2])))
        return from_scores(label_scores(motion, cached[1]))

    def driven_mesh(self, track: TrackResult) -> np.ndarray:
        """(478, 2) target-photo mesh showing the tracked expression and, with ``follow_pose``, the
        tracked head pose (engine.geometry.head_pose.apply_pose)."""
        neutral3d = self._neutral3d
        assert neutral3d is not None  # set by the track() that made ``track``
        mesh = retarget(track.face.mesh3d, neutral3d, self.target_face.mesh, self.config.gains)
        if not self.config.follow_pose:
            return mesh
        return apply_pose(mesh, self.target_face.mesh3d, measure_pose(neutral3d, track.face.mesh3d))

    def request(self, track: TrackResult, dst_mesh: np.ndarray | None = None) -> RenderRequest:
        """What the generator renders for ``track``; ``dst_mesh`` is the driven mesh when the caller
        already computed it (:meth:`driven_mesh`). With ``follow_pose`` the request carries the
        head's motion, fitted on the rigid vertices, so the warp moves the head's surroundings too."""
        dst = self.driven_mesh(track) if dst_mesh is None else dst_mesh
        label, intensity = nearest_label(self._target_frame.to_face(dst) - self._target_neutral_face, self._label_fields)
        motion = head_motion(self.target_face.mesh, dst) if self.config.follow_pose else None
        return RenderRequest(
            self.config.target_image,
            self.target_face,
            dst,
            label,
            intensity,
            source_image=track.image,
            source_face=track.face,
            head_motion=motion,
        )

    def render(self, track: TrackResult, dst_mesh: np.ndarray | None = None) -> np.ndarray:
        """The target photo showing the tracked expression (and pose, see :meth:`request`)."""
        return self.generator.render(self.request(track, dst_mesh))


FRONTAL_FREE_DEG = 14.0  # face-plane tilt still fully frontal: posed London photos reach 17 deg (camera above the eyes)
FRONTAL_SPAN_DEG = 20.0  # tilt beyond the free zone at which the frontal score reaches 0
NEUTRAL_MIN = 0.65  # neutral score below which check_neutral refuses a face
FRONTAL_MIN = 0.8  # frontal score below which check_neutral refuses a face


@dataclass(frozen=True)
class NeutralCheck:
    """Whether a face can serve as the neutral reference, with both scores (0..1) and, when it
    cannot, one human sentence saying why (empty when ok)."""

    ok: bool
    neutral: float
    frontal: float
    reason: str


def face_tilt_deg(face: Face) -> float:
    """Angle (degrees) between the camera axis and the face plane's normal.

    The plane is spanned by the eye line (outer corners 36 -> 45) and the line from the eyes'
    midpoint to the mouth corners' midpoint, all in FaceMesh's (x, y, z) pixel scale; those points
    lie close to one plane on any face, so the angle is the head's combined yaw and pitch.
    """
    q = face.mesh3d.astype(np.float64)[list(MESH_TO_IBUG68)]
    across = q[45] - q[36]
    down = (q[48] + q[54]) / 2 - (q[36] + q[45]) / 2
    normal = np.cross(across, down)
    normal /= max(float(np.linalg.norm(normal)), 1e-9)
    return float(np.degrees(np.arccos(min(abs(normal[2]), 1.0))))


def neutrality(face: Face, shape_model: ShapeModel) -> tuple[float, float]:
    """How neutral and how frontal a face is, each 0..1 (1 = perfectly neutral / frontal).

    Neutral: 1 minus the shape model's expression residual (mean vertex offset from the estimated
    neutral, in units of 0.05 IOD). Frontal: 1 up to a face-plane tilt of FRONTAL_FREE_DEG, falling
    linearly to 0 over the next FRONTAL_SPAN_DEG (see :func:`face_tilt_deg`).
    """
    frame = FaceFrame.of(face.landmarks68)
    observed = frame.to_face(face.mesh)
    neutral = shape_model.estimate_neutral(observed)
    offset = float(np.linalg.norm(observed - neutral, axis=1).mean())
    frontal = float(np.clip(1.0 - max(face_tilt_deg(face) - FRONTAL_FREE_DEG, 0.0) / FRONTAL_SPAN_DEG, 0.0, 1.0))
    return float(np.clip(1.0 - offset / 0.05, 0.0, 1.0)), frontal


def check_neutral(face: Face, shape_model: ShapeModel) -> NeutralCheck:
    """Accept or refuse a face as the neutral reference (thresholds NEUTRAL_MIN, FRONTAL_MIN)."""
    neutral, frontal = neutrality(face, shape_model)
    reasons = []
    if frontal < FRONTAL_MIN:
        reasons.append(f"the head is turned or tilted (frontal {frontal:.0%}, needs {FRONTAL_MIN:.0%}): face the camera")
    if neutral < NEUTRAL_MIN:
        reasons.append(f"the face is not at rest (neutral {neutral:.0%}, needs {NEUTRAL_MIN:.0%}): relax the mouth and brows")
    reason = ("Not a usable neutral: " + "; ".join(reasons) + ".") if reasons else ""
    return NeutralCheck(not reasons, neutral, frontal, reason)
