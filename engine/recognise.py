"""What expression a face shows: a label, how strongly, and how sure.

::

    with Recogniser.create(RecogniserOptions(model="runs/exports/tergan")) as recogniser:
        result = recogniser.recognise(face, image)      # Recognition("happy", 0.9, 0.8, "tergan_recognizer")

Two ways, chosen by the model:

* **geometry** (every model, and ``warp``): the face's 3D head pose is removed against the shape
  model's neutral estimate of the same person (engine.geometry.retarget.estimate_neutral3d), and
  the remaining motion is explained by each label's template scaled by least squares (as
  :func:`engine.geometry.expressions.nearest_label`). Each label scores the motion its template
  leaves unexplained plus :data:`LABEL_PENALTY` (an expression must explain more than the
  landmark noise of a neutral face does); 'neutral' scores the whole motion. The winner has the
  smallest score, its intensity is the template's scale, its confidence the softmax of the
  scores at temperature :data:`TEMPERATURE`.
* **tergan_recognizer** (a TER-GAN model folder, paper 4 section 4.4): the detached expression
  encoder G_es and its classifier on the aligned crop give the label and the confidence (softmax
  probability); the intensity is the geometric scale of that label's template (0 for 'neutral').
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.geometry.align import align_face
from engine.geometry.expressions import ExpressionTemplates, label_fields
from engine.geometry.labels import EXPRESSIONS, MAX_INTENSITY
from engine.geometry.retarget import estimate_neutral3d, motion_in_face_units
from engine.geometry.shape_model import ShapeModel
from engine.manifest import load_manifest
from engine.synthesis.neural_crop import RECOGNISER_ROLE, AuxiliaryNetwork
from engine.synthesis.photo_generators import WARP, model_folder
from engine.types import Face

log = logging.getLogger(__name__)

GEOMETRY = "geometry"
NETWORK = "tergan_recognizer"
# Scores are squared face units summed over the 478 vertices. Chosen on 30 London Set dev people
# (neutral and smiling photos; never held-out ones): a neutral photo's motion from its estimated
# neutral is 0.03-0.16, a smile's 0.07-1.8; with these the dev accuracy is 0.90 and the mean
# confidence 0.81. A face with no motion at all is 'neutral' with confidence 1 / (1 + 7 e^-3) = 0.74.
LABEL_PENALTY = 0.03
TEMPERATURE = 0.01
MIN_INTENSITY = 0.15  # a template scaled below this explains nothing (as nearest_label)


@dataclass(frozen=True)
class Recognition:
    """label: one of EXPRESSIONS; intensity: 0..1.5 (0 for 'neutral'); confidence: 0..1;
    method: 'geometry' or 'tergan_recognizer'."""

    label: str
    intensity: float
    confidence: float
    method: str


@dataclass(frozen=True)
class RecogniserOptions:
    """model: 'warp', a bundled model name or a model folder; a TER-GAN folder (one with a
    ``recognizer`` network) recognises with that network, any other model by geometry.
    backend: what runs the network ('auto' means ONNX Runtime). templates: the expression
    template file (None: the bundled one)."""

    model: str = WARP
    backend: str = "auto"
    templates: Path | None = None


def label_scores(motion: np.ndarray, fields: dict[str, np.ndarray]) -> dict[str, tuple[float, float]]:
    """label -> (least-squares scale >= 0, residual sum of squares) of a face-unit motion (478, 2).

    'neutral' is scale 0 and the motion's own energy; a label whose scale is below MIN_INTENSITY
    scores as 'neutral' does (its template explains too little to count).
    """
    m = np.asarray(motion, dtype=np.float64).reshape(-1)
    energy = float(m @ m)
    scores = {"neutral": (0.0, energy)}
    for label, field_ in fields.items():
        t = field_.reshape(-1)
        norm = float(t @ t)
        scale = max(0.0, float(m @ t) / norm) if norm > 0 else 0.0
        residual = float(((m - scale * t) ** 2).sum()) if scale >= MIN_INTENSITY else energy
        scores[label] = (scale, residual)
    return scores


def geometric_scores(face: Face, shape_model: ShapeModel, templates: ExpressionTemplates) -> dict[str, tuple[float, float]]:
    """:func:`label_scores` of a face's motion from its estimated neutral, head pose removed."""
    neutral3d = estimate_neutral3d(face.mesh3d, shape_model)
    motion, frame = motion_in_face_units(face.mesh3d, neutral3d)
    return label_scores(motion, label_fields(templates, frame.to_face(neutral3d[:, :2])))


def softmax(values: np.ndarray) -> np.ndarray:
    e = np.exp(values - values.max())
    return e / e.sum()


def from_scores(scores: dict[str, tuple[float, float]]) -> Recognition:
    """The geometric Recognition of :func:`label_scores` (see the module docstring)."""
    labels = list(scores)
    penalised = np.array([scores[k][1] + (0.0 if k == "neutral" else LABEL_PENALTY) for k in labels])
    probs = softmax(-penalised / TEMPERATURE)
    best = int(np.argmin(penalised))
    label = labels[best]
    intensity = 0.0 if label == "neutral" else min(scores[label][0], MAX_INTENSITY)
    return Recognition(label, float(intensity), float(probs[best]), GEOMETRY)


class Recogniser:
    """Recognises the expression of detected faces (see the module docstring). Not thread-safe."""

    def __init__(
        self,
        shape_model: ShapeModel,
        templates: ExpressionTemplates,
        network: AuxiliaryNetwork | None = None,
    ) -> None:
        self.shape_model = shape_model
        self.templates = templates
        self.network = network

    @classmethod
    def create(cls, options: RecogniserOptions | None = None) -> "Recogniser":
        """Load the shape model, the templates and, for a TER-GAN model, its recogniser network.

        Raises ModelError for an unknown or broken model folder.
        """
        options = options or RecogniserOptions()
        network = None
        if options.model != WARP:
            folder = model_folder(options.model)
            manifest = load_manifest(folder)
            if RECOGNISER_ROLE in manifest.auxiliary:
                network = AuxiliaryNetwork.open(manifest, folder, RECOGNISER_ROLE, options.backend)
            else:
                log.info("%s has no recogniser network: recognising by geometry", manifest.name)
        return cls(ShapeModel.load(), ExpressionTemplates.load(options.templates), network)

    @property
    def method(self) -> str:
        return GEOMETRY if self.network is None else NETWORK

    def recognise(self, face: Face, image: np.ndarray | None = None) -> Recognition:
        """The expression of ``face``; ``image`` (H, W, 3) uint8 BGR, the photo it was found in, is
        needed by the network only."""
        scores = geometric_scores(face, self.shape_model, self.templates)
        if self.network is None:
            return from_scores(scores)
        if image is None:
            raise ValueError("the TER-GAN recogniser needs the photo the face is in")
        crop = align_face(image, face.landmarks68, self.network.manifest.image_size)
        logits = self.network.run(crop.image)[0]
        probs = softmax(logits.astype(np.float64))
        names = self.network.manifest.labels or EXPRESSIONS
        best = int(np.argmax(probs))
        label = names[best]
        intensity = 0.0 if label == "neutral" else min(scores.get(label, (0.0, 0.0))[0], MAX_INTENSITY)
        return Recognition(label, float(intensity), float(probs[best]), NETWORK)

    def close(self) -> None:
        if self.network is not None:
            self.network.close()

    def __enter__(self) -> "Recogniser":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def recognise(face: Face, image: np.ndarray | None = None, recogniser: Recogniser | None = None) -> Recognition:
    """One face's expression with ``recogniser`` (default: a geometric one, loaded for this call)."""
    if recogniser is not None:
        return recogniser.recognise(face, image)
    with Recogniser.create() as fresh:
        return fresh.recognise(face, image)
