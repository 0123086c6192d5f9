"""Keyframed expression animation of one photo through the shape model's interpolation (paper 2, 3.2).

::

    keys = parse_keys("0:neutral,1.5:happy@1.0,3:surprise@0.8")
    for frame in animate(engine, photo, keys, fps=25):
        writer.write(frame.image, landmarks=frame.landmarks68, mesh=frame.mesh)

Each keyframe's shape is the one ``fes edit --expression LABEL --intensity I`` targets
(:meth:`engine.api.Engine.expression_mesh`: the label's template on the photo's own face, taken
as the person's neutral; 'neutral' is the shape model's neutral estimate). Each is turned into
expression parameters b of G2-GAN's individual-specific model s = s_photo + P_exp b
(:meth:`ShapeModel.fit_expression`), and frames between two keys are
:meth:`ShapeModel.interpolate` of their parameters ("facial expression interpolation can be
conducted by linearly adjusting the value of shape parameters"). The bundled model keeps 13
expression components, which miss part of some templates (London held-out people: surprise's
lower lip by up to 0.13 IOD, mean 0.012; happy 0.006): each key's out-of-model residual is
blended linearly beside the parameters, so every keyframe is exactly the ``fes edit`` shape.
Frames are rendered without the closed-loop refinement of photo edits: it re-measures every
frame and would add flicker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

import numpy as np

from engine.errors import InputError
from engine.face.ibug68 import mesh_to_ibug68
from engine.geometry.expressions import label_fields, nearest_label
from engine.geometry.faceframe import FaceFrame
from engine.geometry.labels import EXPRESSIONS, check_intensity, label_index
from engine.synthesis.photo_generators import RenderRequest
from engine.types import Detection

if TYPE_CHECKING:
    from engine.api import Engine

MAX_DURATION = 600.0  # seconds; a longer timeline is almost certainly a typo
MAX_FPS = 120.0


@dataclass(frozen=True)
class Keyframe:
    """time: seconds from the start (>= 0); label: one of EXPRESSIONS; intensity: 0..1.5."""

    time: float
    label: str
    intensity: float = 1.0


@dataclass(frozen=True)
class AnimationFrame:
    """One rendered frame: index and time (s); image (H, W, 3) uint8 BGR; mesh (478, 2) and
    landmarks68 (68, 2) float32 photo pixels of the face's shape; label/intensity: the nearest
    label of that shape (what a label-conditioned model was given)."""

    index: int
    time: float
    image: np.ndarray
    mesh: np.ndarray
    landmarks68: np.ndarray
    label: str
    intensity: float


def parse_keys(text: str) -> list[Keyframe]:
    """``"TIME:LABEL[@INTENSITY],..."`` -> keyframes, e.g. ``"0:neutral,1.5:happy@1.0,3:surprise@0.8"``.

    Times in seconds, strictly increasing, the first at 0; intensity 0..1.5 (default 1). Raises
    InputError naming the offending key for anything else.
    """
    items = [item.strip() for item in text.split(",") if item.strip()]
    if len(items) < 2:
        raise InputError(f"--keys {text!r}: give at least two keyframes, e.g. \"0:neutral,1.5:happy@1.0\"")
    keys: list[Keyframe] = []
    for item in items:
        time_text, sep, rest = item.partition(":")
        if not sep or not rest:
            raise InputError(f"keyframe {item!r}: expected TIME:LABEL or TIME:LABEL@INTENSITY")
        label_text, at, intensity_text = rest.partition("@")
        try:
            time = float(time_text)
            intensity = float(intensity_text) if at else 1.0
        except ValueError:
            raise InputError(f"keyframe {item!r}: time and intensity must be numbers") from None
        if not np.isfinite(time) or not 0.0 <= time <= MAX_DURATION:
            raise InputError(f"keyframe {item!r}: time must be 0 to {MAX_DURATION:g} seconds")
        label = EXPRESSIONS[label_index(label_text)]
        check_intensity(intensity)
        if keys and time <= keys[-1].time:
            raise InputError(f"keyframe {item!r}: times must increase (previous key at {keys[-1].time:g} s)")
        keys.append(Keyframe(time, label, intensity))
    if keys[0].time != 0.0:
        raise InputError(f"the first keyframe must be at 0 s, not {keys[0].time:g}")
    return keys


def frame_times(keys: list[Keyframe], fps: float) -> np.ndarray:
    """(F,) seconds of every frame from 0 to the last key inclusive, 1 / fps apart."""
    if not 0.0 < fps <= MAX_FPS:
        raise InputError(f"--fps {fps:g} is out of range; use more than 0 and at most {MAX_FPS:g}")
    count = int(np.floor(keys[-1].time * fps + 1e-6)) + 1
    return np.arange(count) / fps


def segment(keys: list[Keyframe], t: float) -> tuple[int, float]:
    """(j, s): time ``t`` lies between keys j and j + 1, a fraction s (0..1) of the way."""
    times = [k.time for k in keys]
    j = int(np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(keys) - 2))
    s = (t - times[j]) / (times[j + 1] - times[j])
    return j, float(np.clip(s, 0.0, 1.0))


def animate(
    engine: "Engine",
    photo: np.ndarray,
    keys: list[Keyframe],
    fps: float = 25.0,
    face_index: int | None = None,
    detection: Detection | None = None,
) -> Iterator[AnimationFrame]:
    """Render the keyframed sequence of ``photo`` (H, W, 3) uint8 BGR, one frame at a time.

    detection: the photo's faces when the caller already detected them (else detected here, and
    ``face_index`` picks one). Raises NoFaceError / InputError before the first frame.
    """
    times = frame_times(keys, fps)
    detection = detection or engine.detect(photo, face_index)
    face = detection.face
    frame = FaceFrame.of(face.landmarks68)
    base = frame.to_face(face.mesh)
    model = engine.shape_model
    targets = [frame.to_face(engine.expression_mesh(face, k.label, k.intensity)) for k in keys]
    params = [model.fit_expression(base, target) for target in targets]
    residuals = [target - model.express(base, b) for target, b in zip(targets, params)]
    fields = label_fields(engine.templates, base)
    for index, t in enumerate(times):
        j, s = segment(keys, float(t))
        shape = model.interpolate(base, params[j], params[j + 1], s) + (1.0 - s) * residuals[j] + s * residuals[j + 1]
        mesh = frame.to_image(shape).astype(np.float32)
        label, intensity = nearest_label(shape - base, fields)
        image = engine.render(RenderRequest(photo, face, mesh, label, intensity), refine=0)
        yield AnimationFrame(index, float(t), image, mesh, mesh_to_ibug68(mesh), label, intensity)
