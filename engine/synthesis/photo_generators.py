"""Face generators behind one call: the training-free ``warp`` and learned models from manifests.

A generator renders a photo whose face (FaceMesh ``face``) is moved to ``dst_mesh``; learned
models also receive the label, intensity and (for image-driven families) the driving face's crop.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol

import numpy as np

import resources
from engine.errors import BackendError, ModelError
from engine.face.ibug68 import mesh_to_ibug68
from engine.geometry.align import align_face, transform_points
from engine.synthesis.composite import paste
from engine.synthesis.warp import warp_face
from engine.types import Face

if TYPE_CHECKING:
    from engine.synthesis.neural_crop import NeuralGenerator

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
    by_label: the user asked for ``label`` itself (``fes edit --expression``), not a mesh, so a
    model that makes its own geometry from a label may: LandmarkGAN's stage I generates the
    landmarks, G2-GAN's removal network G_R renders 'neutral'. ``dst_mesh`` then only shapes the
    paste mask. head_motion: (2, 3) similarity (pixels) by which the whole head moves, when the
    head follows a driver's pose (the warp moves a ring around the face with it); None: the head
    stays where it is in the photo.
    """

    image: np.ndarray
    face: Face
    dst_mesh: np.ndarray
    label: str = "neutral"
    intensity: float = 1.0
    source_image: np.ndarray | None = None
    source_face: Face | None = None
    by_label: bool = False
    head_motion: np.ndarray | None = None


class Generator(Protocol):
    name: str
    description: str

    @property
    def backend_label(self) -> str:
        """What runs it, e.g. ``onnxruntime-fp32`` ("" for the warp, which needs no backend)."""
        ...

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

    @property
    def backend_label(self) -> str:
        return ""

    def render(self, request: RenderRequest) -> np.ndarray:
        result = warp_face(request.image, request.face.mesh, request.dst_mesh, head_motion=request.head_motion)
        self.last_mouth_fill = result.mouth_fill
        return result.image

    def close(self) -> None:
        return None


class LearnedGenerator:
    """A model folder (manifest + ONNX + weights) run by a backend on the aligned crop, pasted back.

    With ``manifest.prewarp`` the photo is first mesh-warped to the target shape and the model
    refines that; otherwise the model sees the original crop and the target geometry. A request
    ``by_label`` goes to the model's own label paths when it has them (see RenderRequest);
    ``last_landmarks68`` then holds the (68, 2) landmarks stage I generated, in photo pixels.
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
        from engine.synthesis.neural_crop import NeuralGenerator  # the runtime side (backends)

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
        self.last_landmarks68: np.ndarray | None = None

    @property
    def removes_expressions(self) -> bool:
        """True for a model with an expression-removal network (G2-GAN's G_R)."""
        return self._net.removes_expressions

    @property
    def generates_landmarks(self) -> bool:
        """True for a model whose landmark network makes the geometry from a label (LandmarkGAN)."""
        return self._net.generates_landmarks

    @property
    def network(self) -> "NeuralGenerator":
        """The model's runtime (backends, auxiliary networks)."""
        return self._net

    def own_geometry(self, request: RenderRequest) -> bool:
        """True when :meth:`render` ignores ``request.dst_mesh`` for the face's geometry: a request
        ``by_label`` for 'neutral' on a model with G_R, or any label on one with a landmark network."""
        if not request.by_label:
            return False
        return (request.label == "neutral" and self.removes_expressions) or self.generates_landmarks

    @property
    def backend_label(self) -> str:
        """What runs the model now, e.g. ``onnxruntime-fp32`` (changes after a fallback)."""
        return self._net.backend_label

    def render(self, request: RenderRequest) -> np.ndarray:
        size = self.manifest.image_size
        base = request.image
        aligned_on = request.face.landmarks68
        if self.manifest.prewarp:
            # Pre-warped models were trained on crops aligned on the driven geometry
            # (training/data/prewarp.py); the warped photo shows that geometry.
            base = warp_face(request.image, request.face.mesh, request.dst_mesh, head_motion=request.head_motion).image
            aligned_on = mesh_to_ibug68(request.dst_mesh)
        crop = align_face(base, aligned_on, size)
        driven = transform_points(mesh_to_ibug68(request.dst_mesh), crop.matrix)
        self.last_landmarks68 = None
        if self.own_geometry(request) and request.label == "neutral" and self.removes_expressions:
            own = transform_points(request.face.landmarks68, crop.matrix)
            return paste(base, self._net.remove_expression(crop.image, own), crop, driven)
        geometry = driven
        if self.own_geometry(request):
            # Stage I's landmarks drive stage II; the paste mask keeps the template's outline, which a
            # poorly trained G_l (collapsed points) cannot shrink to nothing.
            geometry = self._net.predict_landmarks(crop.image, request.label, request.intensity)
            self.last_landmarks68 = transform_points(geometry, crop.inverse).astype(np.float32)
        source_crop = None
        if request.source_image is not None and request.source_face is not None:
            source_crop = align_face(request.source_image, request.source_face.landmarks68, size).image
        out = self._net.generate(crop.image, geometry, request.label, request.intensity, source_crop=source_crop)
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
    """The generator for ``model`` ('warp', a bundled model name or a folder) on ``backend``.

    The default model is the one a user never chose: when it cannot be loaded (a corrupt or missing
    file, no backend) the warp takes its place and ``on_status`` (and the log) says why. Any other
    model that cannot be loaded raises ModelError / BackendError.
    """
    if model == WARP:
        return WarpGenerator()
    if model != DEFAULT_MODEL:
        return _open_learned(model, backend, probe_face, on_status)
    try:
        return _open_learned(model, backend, probe_face, on_status)
    except (ModelError, BackendError) as exc:
        message = f"the default model {model} could not be loaded ({exc}); using the warp instead"
        log.warning(message)
        if on_status is not None:
            on_status(message)
        return WarpGenerator()


def _open_learned(
    model: str,
    backend: str,
    probe_face: tuple[np.ndarray, Face] | None,
    on_status: Callable[[str], None] | None,
) -> Generator:
    from engine.manifest import load_manifest
    from engine.synthesis.refiner import RefinerGenerator, is_refiner

    folder = model_folder(model)
    if is_refiner(load_manifest(folder)):
        return RefinerGenerator(folder, backend, probe_face, on_status)
    return LearnedGenerator(folder, backend, probe_face, on_status)
