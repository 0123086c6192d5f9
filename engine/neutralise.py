"""Bring a photo's face back to neutral before it is used as a neutral (paper 2, section 3.2).

Expression transfer takes the target photo as the person's neutral and adds the source's motion
to it; a target that already smiles would smile twice. G2-GAN's transfer "firstly employs the
expression removal model to recover expressionless faces", and so does :func:`neutralise`:

* a model with G2-GAN's removal network (G_R) renders the face neutral with it
  (:meth:`engine.api.Engine.edit_expression` with 'neutral');
* any other model (the warp included) mesh-warps the face to the shape model's neutral estimate
  of the same person (:func:`engine.geometry.retarget.estimate_neutral3d`), a purely geometric
  removal.

Whether a face needs it is the geometric recogniser's call (:mod:`engine.recognise`): a label
other than 'neutral' at intensity :data:`MIN_EXPRESSION` or more. On 30 London dev people that
neutralises 1 of 30 neutral photos and 24 of 30 smiles (without the intensity floor: 3 and 28);
removing the expression of a face that was neutral costs more than a faint smile left in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from engine.recognise import Recogniser, Recognition
from engine.synthesis.photo_generators import LearnedGenerator
from engine.synthesis.warp import warp_face
from engine.types import Detection

if TYPE_CHECKING:
    from engine.api import Engine

ALREADY_NEUTRAL = "already neutral"
REMOVAL_NETWORK = "G2-GAN's removal network G_R"
SHAPE_MODEL = "the shape model's neutral estimate (mesh warp)"
MIN_EXPRESSION = 0.5  # recognised intensity from which a face is neutralised


@dataclass(frozen=True)
class Neutralised:
    """image: (H, W, 3) uint8 BGR photo with the chosen face neutral (the input itself when it was
    neutral already); detection: the faces of ``image``; before: the expression recognised on the
    input; method: ALREADY_NEUTRAL, REMOVAL_NETWORK or SHAPE_MODEL."""

    image: np.ndarray
    detection: Detection
    before: Recognition
    method: str

    @property
    def changed(self) -> bool:
        return self.method != ALREADY_NEUTRAL

    def describe(self) -> str:
        """One line for the user, e.g. "the target showed happy (intensity 1.06): neutralised with ..."."""
        b = self.before
        return f"the face showed {b.label} (intensity {b.intensity:.2f}, confidence {b.confidence:.2f}): neutralised first with {self.method}"


def removes_expressions(engine: "Engine") -> bool:
    """True when the engine's model ships a removal network (G2-GAN)."""
    return isinstance(engine.generator, LearnedGenerator) and engine.generator.removes_expressions


def neutralise(
    engine: "Engine",
    image: np.ndarray,
    face_index: int | None = None,
    recogniser: Recogniser | None = None,
    force: bool = False,
) -> Neutralised:
    """The photo with its chosen face neutral (see the module docstring).

    image: (H, W, 3) uint8 BGR. recogniser: decides whether the face is neutral (default: a
    geometric one on the engine's shape model and templates). force: remove even when the face
    already looks neutral. Raises NoFaceError / InputError as :meth:`Engine.detect`.
    """
    detection = engine.detect(image, face_index)
    recogniser = recogniser or Recogniser(engine.shape_model, engine.templates)
    before = recogniser.recognise(detection.face, image)
    if (before.label == "neutral" or before.intensity < MIN_EXPRESSION) and not force:
        return Neutralised(image, detection, before, ALREADY_NEUTRAL)
    if removes_expressions(engine):
        out, method = engine.edit_expression(image, "neutral", 1.0, face_index).image, REMOVAL_NETWORK
    else:
        mesh = engine.expression_mesh(detection.face, "neutral", 1.0)
        out, method = warp_face(image, detection.face.mesh, mesh).image, SHAPE_MODEL
    return Neutralised(out, engine.detect(out, face_index), before, method)
