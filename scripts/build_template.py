"""Build resources/geometry/template68.json and shape_model.npz from the London dev people.

template68.json: the mean neutral 68-point shape.
Each shape is normalised by its eye centres (midpoint to the origin, eyes on the x axis, unit
inter-ocular distance), averaged, then placed in unit crop coordinates with the eye midpoint at
(0.5, 0.38) and an inter-ocular distance of 0.30.

shape_model.npz: paper 2's shape model (engine/geometry/shape_model.py): identity PCA of the
neutral FaceMeshes, expression PCA of the real smiles (head pose removed) plus the expression
templates of every other label on each person's neutral.

    python scripts/build_template.py /path/to/shared/data/london
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np

import resources
from engine.face.ibug68 import eye_centres
from engine.face.tracker import FaceTracker, TrackerOptions
from engine.geometry.expressions import ExpressionTemplates
from engine.geometry.labels import EXPRESSIONS
from engine.geometry.retarget import motion_in_face_units
from engine.geometry.faceframe import FaceFrame
from engine.geometry.shape_model import ShapeModel

EYE_Y, IOD = 0.38, 0.30


def normalise(lm: np.ndarray) -> np.ndarray:
    right, left = eye_centres(lm)
    centre, axis = (right + left) / 2, left - right
    d = np.linalg.norm(axis)
    c, s = axis / d
    rot = np.array([[c, s], [-s, c]])
    return (lm - centre) @ rot.T / d


def main(london: Path) -> None:
    split = json.loads((resources.ROOT / "splits" / "london.json").read_text())
    shapes, neutral_meshes, displacements = [], [], []
    templates = ExpressionTemplates.load()
    with FaceTracker.create(TrackerOptions(max_faces=1)) as tracker:
        for pid in split["dev"]:
            neutral = tracker.detect(cv2.imread(str(london / "neutral" / f"{pid}.jpg"))).face
            smiling = tracker.detect(cv2.imread(str(london / "smiling" / f"{pid}.jpg"))).face
            shapes.append(normalise(neutral.landmarks68.astype(np.float64)))
            face_mesh = FaceFrame.of(neutral.landmarks68).to_face(neutral.mesh)
            neutral_meshes.append(face_mesh)
            displacements.append(motion_in_face_units(smiling.mesh3d, neutral.mesh3d)[0])
            for label in EXPRESSIONS[2:]:
                displacements.append(templates.displacement(label, face_mesh))
    model = ShapeModel.fit(np.array(neutral_meshes), np.array(displacements))
    model.save(resources.ROOT / "geometry" / "shape_model.npz")
    print(f"shape model: {len(model.identity_std)} identity, {len(model.expression_std)} expression components")
    mean = np.mean(shapes, axis=0) * IOD + np.array([0.5, EYE_Y])
    out = resources.ROOT / "geometry" / "template68.json"
    out.write_text(json.dumps({
        "description": "Mean neutral iBUG-68 shape of the London Set dev people (resources/splits/london.json), "
        "unit crop coordinates, eye centres at y=0.38, 0.30 apart. Built by scripts/build_template.py.",
        "people": len(shapes),
        "points": np.round(mean, 5).tolist(),
    }, indent=1))
    print(f"wrote {out} from {len(shapes)} faces")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
