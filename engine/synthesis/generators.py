"""Face generators behind one call: the training-free ``warp`` and learned models from manifests.

A generator renders a photo whose face (FaceMesh ``face``) is moved to ``dst_mesh``; learned
models also receive the label, intensity and (for image-driven families) the driving face's crop.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

import resources
from engine.errors import ModelError
from engine.face.ibug68 import mesh_to_ibug68
from engine.geometry.align import align_face, transform_points
from engine.synthesis.composite import paste
from engine.synthesis.warp import warp_face
from engine.types import Face

log = logging.getLogger(__name__)

WARP = "warp"
# What the app and the CLI use unless told otherwise. The warp: on the London held-out people it
# beats every learned model trained here (docs/results.md), and it needs no backend.
DEFAULT_MODEL = WARP


@dataclass(frozen=True)
class RenderRequest:
    """What a generator needs for one output.

    image: (H, W, 3) uint8 BGR target photo; face: its detected face; dst_mesh: (478, 2) pixels
    where the face should end up; label/intensity: the expression asked for (label-driven
    models); source_image/source_face: the driving photo and face (image-driven models).
    """

    image: np.ndarray
    face: Face
    dst_mesh: np.ndarray
    label: str = "neutral"
    intensity: float = 1.0
    source_image: np.ndarray | None = None
    source_face: Face | None = None


class Generator(Protocol):
    name: str
    description: str

    def render(self, request: RenderRequest) -> np.ndarray:
        """The full (H, W, 3) uint8 BGR output photo."""
        ...

    def close(self) -> None: ...


@dataclass
class WarpGenerator:
    """Piecewise-affine mesh warp with mouth-interior synthesis (engine.synthesis.warp)."""

    name: str = WARP
    description: str = "classical mesh warp (training free)"
    last_mouth_fill: float = field(default=0.0, repr=False)

    def render(self, request: RenderRequest) -> np.ndarray:
        result = warp_face(request.image, request.face.mesh, request.dst_mesh)
        self.last_mouth_fill = result.mouth_fill
        return result.image

    def close(self) -> None:
        return None


class LearnedGenerator:
    """A model folder (manifest + ONNX + weights) run by a backend on the aligned crop, pasted back.

    With ``manifest.prewarp`` the photo is first mesh-warped to the target shape and the model
    refines that; otherwise the model sees the original crop and the target geometry.
    ``probe_face`` (a photo and its face) makes the first-use backend calibration run on that
    real face; ``on_status`` hears about backend fallbacks (NaN or black output).
    """

    def __init__(
        self,
        folder: Path,
        backend: str,
        probe_face: tuple[np.ndarray, Face] | None = None,
        on_status: Callable[[str], None] | None = None,
    ) -> None:
        from engine.manifest import load_manifest
        from engine.synthesis.generator import NeuralGenerator  # the runtime side (backends)

        self.folder = folder
        self.manifest = load_manifest(folder)
        probe = None
        if probe_face is not None:
            image, face = probe_face
            crop = align_face(image, face.landmarks68, self.manifest.image_size)
            probe = (crop.image, transform_points(face.landmarks68, crop.matrix))
        self._net = NeuralGenerator.open(folder, backend=backend, probe=probe, on_status=on_status)
        self.name = self.manifest.name
        self.description = self.manifest.paper

    @property
    def backend_label(self) -> str:
        """What runs the model now, e.g. ``onnxruntime-fp32`` (changes after a fallback)."""
        return self._net.backend_label

    def render(self, request: RenderRequest) -> np.ndarray:
        size = self.manifest.image_size
        base = request.image
        if self.manifest.prewarp:
            base = warp_face(request.image, request.face.mesh, request.dst_mesh).image
        crop = align_face(base, request.face.landmarks68, size)
        driven = transform_points(mesh_to_ibug68(request.dst_mesh), crop.matrix)
        source_crop = None
        if request.source_image is not None and request.source_face is not None:
            source_crop = align_face(request.source_image, request.source_face.landmarks68, size).image
        out = self._net.generate(crop.image, driven, request.label, request.intensity, source_crop=source_crop)
        return paste(base, out, crop, driven)

    def close(self) -> None:
        self._net.close()


def model_folder(name: str) -> Path:
    """Resolve a model name (a folder under resources/models) or a path to a model folder."""
    path = Path(name)
    if path.is_dir():
        return path
    bundled = resources.MODELS / name
    if bundled.is_dir():
        return bundled
    known = ", ".join(available_models())
    raise ModelError(f"unknown model {name!r}; available: {known}")


def available_models() -> list[str]:
    """'warp' and every bundled model folder with a manifest."""
    names = [WARP]
    if resources.MODELS.is_dir():
        names += sorted(p.name for p in resources.MODELS.iterdir() if (p / "manifest.json").is_file())
    return names


def open_generator(
    model: str = DEFAULT_MODEL,
    backend: str = "auto",
    probe_face: tuple[np.ndarray, Face] | None = None,
    on_status: Callable[[str], None] | None = None,
) -> Generator:
    """The generator for ``model`` ('warp', a bundled model name or a folder) on ``backend``."""
    if model == WARP:
        return WarpGenerator()
    return LearnedGenerator(model_folder(model), backend, probe_face, on_status)
