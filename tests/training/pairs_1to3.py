"""Helpers for the tests of families 1-3 (lgan, g2gan, unet_cgan): real London pairs and ONNX checks.

``london_batch(size)`` is a training batch (training.base keys) of four dev people of the Face
Research Lab London Set (CC BY 4.0, DeBruine & Jones 2017, copied into tests/data):
neutral photo -> smiling photo of the same person. Faces are found with the engine's tracker and
aligned with engine.geometry.align, as the training data pipeline does; each photo gets its own
crop (the smiling photos' heads sit slightly differently).
"""

from __future__ import annotations

from collections.abc import Callable
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
DEV_PEOPLE = ("001", "002", "005", "006")



@lru_cache(maxsize=None)
def _pairs(size: int) -> tuple[np.ndarray, ...]:
    """(neutral crops, smiling crops, neutral landmarks, smiling landmarks) of DEV_PEOPLE at ``size``."""
    crops: dict[str, list[np.ndarray]] = {"neutral": [], "smiling": []}
    points: dict[str, list[np.ndarray]] = {"neutral": [], "smiling": []}
    with FaceTracker.create(TrackerOptions(max_faces=1, smoothing=None)) as tracker:
        for person in DEV_PEOPLE:
            for expression in ("neutral", "smiling"):
                photo = cv2.imread(str(LONDON / expression / f"{person}.jpg"))
                landmarks = tracker.detect(photo).face.landmarks68
                crop = align_face(photo, landmarks, size)
                crops[expression].append(to_unit_range(crop.image))
                points[expression].append(transform_points(landmarks, crop.matrix))
    return (
        np.stack(crops["neutral"]),
        np.stack(crops["smiling"]),
        np.stack(points["neutral"]),
        np.stack(points["smiling"]),
    )


def london_batch(size: int) -> dict[str, torch.Tensor]:
    """Four neutral -> smiling pairs at ``size`` px as a training batch; ``other_*`` is the next
    person's smiling photo (paper 3's identity pairs)."""
    src, tgt, src_points, tgt_points = (torch.from_numpy(a.copy()) for a in _pairs(size))
    n = src.shape[0]
    person = torch.arange(n)
    return {
        "src_image": src,
        "tgt_image": tgt,
        "src_landmarks": src_points,
        "tgt_landmarks": tgt_points,
        "src_label": torch.full((n,), label_index("neutral"), dtype=torch.int64),
        "tgt_label": torch.full((n,), label_index("happy"), dtype=torch.int64),
        "tgt_intensity": torch.ones(n),
        "person": person,
        "other_image": tgt.roll(1, dims=0),
        "other_person": person.roll(1),
    }


def output_shapes(module: nn.Module, run: Callable[[], object]) -> list[tuple[int, ...]]:
    """Run ``run()`` and return the output shape (without batch) of each direct child of ``module``."""
    shapes: list[tuple[int, ...]] = []
    hooks = [child.register_forward_hook(lambda _m, _i, out: shapes.append(tuple(out.shape[1:]))) for child in module]
    try:
        run()
    finally:
        for hook in hooks:
            hook.remove()
    return shapes


def assert_onnx_matches(generator: nn.Module, inputs: tuple[torch.Tensor, ...], names: list[str], path: Path) -> None:
    """Export with the TorchScript exporter and a dynamic batch axis; onnxruntime must match PyTorch
    within 1e-3 on ``inputs`` and on the same inputs at another batch size."""
    generator.eval()
    axes = {name: {0: "batch"} for name in [*names, "output"]}
    torch.onnx.export(
        generator, inputs, str(path), input_names=names, output_names=["output"], dynamic_axes=axes, dynamo=False
    )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in (inputs, tuple(torch.cat([x, x.flip(0)]) for x in inputs)):
        with torch.no_grad():
            expected = generator(*batch).numpy()
        got = session.run(None, {name: x.numpy() for name, x in zip(names, batch)})[0]
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() < 1e-3


def settle_batch_norm(generator: nn.Module, inputs: tuple[torch.Tensor, ...], passes: int = 4) -> None:
    """Recompute the batch-norm running statistics for the generator's current weights ("precise BN").

    After a few dozen steps the running averages (momentum 0.1) still mix in statistics of weights
    that have since moved, so eval mode lags what training reached; a long run has no such gap.
    """
    norms = [m for m in generator.modules() if isinstance(m, nn.BatchNorm2d)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the passes
    was_training = generator.training
    generator.train()
    with torch.no_grad():
        for _ in range(passes):
            generator(*inputs)
    generator.train(was_training)
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
