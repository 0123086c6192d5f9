"""Real paired photos for the paper 4 and 5 family tests: four London dev people, neutral -> smiling.

Faces are found with the engine's tracker and aligned with engine.geometry.align, exactly as the
training data pipeline does, so the tests see the crops and landmarks the families train on.
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import torch
from torch import nn

from engine.face.tracker import FaceTracker, TrackerOptions
from engine.geometry.align import align_face, transform_points
from engine.geometry.conditions import to_unit_range
from engine.geometry.labels import label_index

LONDON = Path(__file__).resolve().parents[1] / "data" / "london"
# Dev people of resources/splits/london.json (never the held-out ones).
PEOPLE = ("001", "002", "005", "006")



@lru_cache(maxsize=1)
def _detections() -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], ...]:
    """Per person: (neutral BGR, its 68 landmarks, smiling BGR, its 68 landmarks), image pixels."""
    out = []
    with FaceTracker.create(TrackerOptions(max_faces=1, smoothing=None)) as tracker:
        for person in PEOPLE:
            row = []
            for expression in ("neutral", "smiling"):
                image = cv2.imread(str(LONDON / expression / f"{person}.jpg"))
                assert image is not None, f"missing London photo {expression}/{person}.jpg"
                row += [image, tracker.detect(image).faces[0].landmarks68]
            out.append(tuple(row))
    return tuple(out)


def london_pairs(size: int) -> dict[str, torch.Tensor]:
    """A training batch (training.base keys) of the four people at crop size ``size``.

    src = neutral photo, tgt = the same person smiling (label "happy", intensity 1); other_image is
    the next person's smiling photo.
    """
    src, tgt, src_lm, tgt_lm = [], [], [], []
    for neutral, neutral_lm, smiling, smiling_lm in _detections():
        for image, lm, images, points in ((neutral, neutral_lm, src, src_lm), (smiling, smiling_lm, tgt, tgt_lm)):
            crop = align_face(image, lm, size)
            images.append(to_unit_range(crop.image))
            points.append(transform_points(lm, crop.matrix))
    n = len(PEOPLE)
    tgt_image = torch.from_numpy(np.stack(tgt))
    return {
        "src_image": torch.from_numpy(np.stack(src)),
        "tgt_image": tgt_image,
        "src_landmarks": torch.from_numpy(np.stack(src_lm)),
        "tgt_landmarks": torch.from_numpy(np.stack(tgt_lm)),
        "src_label": torch.full((n,), label_index("neutral"), dtype=torch.int64),
        "tgt_label": torch.full((n,), label_index("happy"), dtype=torch.int64),
        "tgt_intensity": torch.ones(n),
        "person": torch.arange(n),
        "other_image": tgt_image.roll(1, dims=0),
        "other_person": torch.arange(n).roll(1),
    }


def assert_onnx_matches(
    network: nn.Module, inputs: tuple[torch.Tensor, ...], names: list[str], output: str, path: Path
) -> None:
    """Export ``network`` (eval mode) with the TorchScript exporter and a dynamic batch axis, then check
    that onnxruntime matches PyTorch within 1e-3 on ``inputs`` and on a batch twice as large.
    ``output`` must differ from every input name (ONNX renames a clashing input)."""
    network.eval()
    axes = {name: {0: "batch"} for name in [*names, output]}
    with warnings.catch_warnings():
        # dynamo=False is deliberate (the project's export path); torch warns that it is the legacy one.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            network, inputs, str(path), input_names=names, output_names=[output], dynamic_axes=axes, dynamo=False
        )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in (inputs, tuple(torch.cat([x, x.flip(0)]) for x in inputs)):
        with torch.no_grad():
            expected = network(*batch).numpy()
        got = session.run([output], {name: x.numpy() for name, x in zip(names, batch)})[0]
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-3)
