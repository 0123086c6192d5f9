"""Neural synthesis: a model folder plus a backend turned into ``crop in, crop out``.

::

    with NeuralGenerator.create(GeneratorOptions(model="lgan")) as gen:
        out = gen.generate(target_crop, driven_landmarks68=lm, label="happy", intensity=0.8)

:meth:`NeuralGenerator.generate` builds each input the manifest lists from what the engine knows
(all in the aligned crop's pixel frame, N = ``manifest.image_size``):

    image           the target's aligned crop (for a ``prewarp`` model: the crop already
                    mesh-warped to the driven landmarks by :mod:`engine.synthesis.warp`)
    source_image    the driving face's aligned crop
    heatmap68/1     Gaussians at the driven landmarks (:func:`engine.geometry.conditions.heatmaps68`)
    label_maps      :func:`~engine.geometry.conditions.label_maps` of label and intensity
    label_onehot    the one-hot label scaled by intensity
    landmark_image  :func:`~engine.geometry.conditions.landmark_image` of the target crop at the
                    driven landmarks
    landmarks       driven landmarks / N
    noise           zeros (deterministic output)

Auxiliary networks (``manifest.auxiliary``, each an :class:`AuxiliaryNetwork` filled the same way):

    landmarks   LandmarkGAN's stage I, G_l: with no landmarks given it runs first and its (68, 2)
                output times N becomes the driven landmarks (:meth:`NeuralGenerator.predict_landmarks`)
    removal     G2-GAN's G_R: an expressive crop and its own landmarks -> the same face neutral
                (:meth:`NeuralGenerator.remove_expression`)
    recognizer  TER-GAN's detached G_es and classifier: a crop -> expression logits
                (:class:`AuxiliaryNetwork` opened alone by :mod:`engine.recognise`)

Input buffers are allocated once and refilled per frame; the backend is chosen by
:func:`engine.backends.select.select_backend` and guarded against NaN / black output.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

import resources
from engine.backends.base import Backend, default_threads, network_family
from engine.backends.select import (
    Choice,
    GuardedBackend,
    SelectOptions,
    StatusCallback,
    open_backend,
    parse_spec,
    select_backend,
)
from engine.errors import InputError, ModelError
from engine.geometry.conditions import DEFAULT_SIGMA, landmark_image, label_maps
from engine.geometry.labels import EXPRESSIONS
from engine.manifest import Manifest, load_manifest
from engine.nets.registry import InputSpec
from engine.synthesis.photo_generators import model_folder

log = logging.getLogger(__name__)

LANDMARKS_ROLE = "landmarks"
REMOVAL_ROLE = "removal"
RECOGNISER_ROLE = "recognizer"
PROBE_PHOTO = "target_f.jpg"


@dataclass(frozen=True)
class GeneratorOptions:
    """model: a model folder or a shipped model's name.

    backend: None/"auto" picks by calibration (cached per machine); "onnxruntime", "torch-bf16",
    ... force one. recalibrate: ignore the cached choice. threads: CPU kernel threads (None: all
    cores but one). probe_image: the real photo calibration runs on when no probe crop is given
    (default: the bundled target sample).
    """

    model: str | Path
    backend: str | None = None
    recalibrate: bool = False
    threads: int | None = None
    probe_image: Path | None = None


class _Inputs:
    """Reused float32 buffers (batch 1) for one network's inputs, filled per frame."""

    def __init__(self, specs: tuple[InputSpec, ...], size: int) -> None:
        self.specs = specs
        self.size = size
        self.arrays = {spec.name: np.zeros(_input_shape(spec, size), dtype=np.float32) for spec in specs}
        self.grid = np.arange(size, dtype=np.float32)
        self.scratch = np.empty((68, size, size), dtype=np.float32) if any(s.kind == "heatmap1" for s in specs) else None
        self.label_keys: dict[str, tuple[int, float]] = {}  # input name -> (label, intensity) it holds


def _input_shape(spec: InputSpec, size: int) -> tuple[int, ...]:
    """(1, C, N, N) for maps, (1, K, 2) for landmarks, (1, C) for vectors (label_onehot, noise)."""
    if spec.kind in ("image", "source_image", "heatmap68", "heatmap1", "label_maps", "landmark_image"):
        return (1, spec.channels, size, size)
    if spec.kind == "landmarks":
        return (1, spec.channels, 2)
    return (1, spec.channels)


def heatmaps_into(out: np.ndarray, landmarks: np.ndarray, grid: np.ndarray, sigma: float = DEFAULT_SIGMA) -> np.ndarray:
    """:func:`engine.geometry.conditions.heatmaps68` written into ``out`` (K, N, N) without temporaries of that size."""
    size = out.shape[-1]
    s = sigma * size / 128.0
    pts = np.asarray(landmarks, dtype=np.float32)
    gx = np.exp(-((grid[None, :] - pts[:, 0:1]) ** 2) / (2 * s * s))
    gy = np.exp(-((grid[None, :] - pts[:, 1:2]) ** 2) / (2 * s * s))
    np.multiply(gy[:, :, None], gx[:, None, :], out=out)
    return out


def unit_range_into(out: np.ndarray, image_bgr: np.ndarray) -> None:
    """:func:`engine.geometry.conditions.to_unit_range` written into ``out`` (3, N, N)."""
    for c in range(3):
        np.multiply(image_bgr[:, :, 2 - c], 1.0 / 127.5, out=out[c])
    out -= 1.0


class NeuralGenerator:
    """A loaded model and backend that synthesise aligned face crops.

    manifest: the model's :class:`Manifest`. size: N. choice: how the backend was chosen.
    backend: the guarded backend (``backend.label`` says which runs now). Not thread-safe: one
    thread calls :meth:`generate` (the pipeline's render stage).
    """

    def __init__(
        self,
        manifest: Manifest,
        folder: Path,
        backend: GuardedBackend,
        choice: Choice,
        auxiliary: dict[str, "AuxiliaryNetwork"] | None = None,
    ) -> None:
        self.manifest = manifest
        self.folder = folder
        self.backend = backend
        self.choice = choice
        self.size = manifest.image_size
        self._inputs = _Inputs(manifest.inputs, self.size)
        self.auxiliary: dict[str, AuxiliaryNetwork] = dict(auxiliary or {})

    @classmethod
    def create(
        cls,
        options: GeneratorOptions,
        *,
        probe: tuple[np.ndarray, np.ndarray] | None = None,
        on_status: StatusCallback | None = None,
    ) -> "NeuralGenerator":
        """Load the model and choose its backend.

        probe: (aligned crop (N, N, 3) uint8 BGR, its (68, 2) landmarks in crop pixels) of a real
        face for the first-use calibration; by default the bundled sample photo, centre-cropped,
        with the canonical template's landmarks.
        Raises ModelError for a missing/corrupt model, BackendError when nothing can run it.
        """
        folder = model_folder(str(options.model))
        manifest = load_manifest(folder)
        threads = options.threads or default_threads()
        select = SelectOptions(backend=options.backend, recalibrate=options.recalibrate, threads=threads)
        crop, landmarks = probe if probe is not None else default_probe(manifest.image_size, options.probe_image)
        choice, backend = select_backend(manifest, folder, probe_inputs(manifest, crop, landmarks), select)
        guarded = GuardedBackend(backend, manifest, folder, threads=threads, on_status=on_status)
        auxiliary = {
            role: AuxiliaryNetwork.open(manifest, folder, role, choice.backend, threads=threads, on_status=on_status)
            for role in manifest.auxiliary
        }
        return cls(manifest, folder, guarded, choice, auxiliary)

    @classmethod
    def open(
        cls,
        model: str | Path,
        backend: str | None = "auto",
        *,
        probe: tuple[np.ndarray, np.ndarray] | None = None,
        on_status: StatusCallback | None = None,
    ) -> "NeuralGenerator":
        """Shorthand for ``create(GeneratorOptions(model=model, backend=backend))``."""
        return cls.create(GeneratorOptions(model=model, backend=backend), probe=probe, on_status=on_status)

    @property
    def backend_label(self) -> str:
        """What runs the model now, e.g. ``onnxruntime-int8`` (changes after a NaN fallback)."""
        return self.backend.label

    @property
    def needs_landmarks(self) -> bool:
        """True when driven landmarks must be given (no landmark network to predict them)."""
        kinds = set(self.manifest.kinds())
        return bool(kinds & {"heatmap68", "heatmap1", "landmark_image", "landmarks"}) and LANDMARKS_ROLE not in self.auxiliary

    @property
    def removes_expressions(self) -> bool:
        """True when the model ships G2-GAN's expression-removal network (``removal``)."""
        return REMOVAL_ROLE in self.auxiliary

    @property
    def generates_landmarks(self) -> bool:
        """True when the model ships a landmark network that makes geometry from a label (``landmarks``)."""
        return LANDMARKS_ROLE in self.auxiliary

    def generate(
        self,
        target_crop: np.ndarray,
        driven_landmarks68: np.ndarray | None = None,
        label: int | str | None = None,
        intensity: float = 1.0,
        source_crop: np.ndarray | None = None,
    ) -> np.ndarray:
        """Synthesise the target with the driven expression.

        target_crop: (N, N, 3) uint8 BGR aligned crop of the person to edit.
        driven_landmarks68: (68, 2) float32 wanted landmarks in crop pixels; None lets a model with a
            landmark network predict them from label and intensity.
        label: expression name or index into the manifest's labels (label-conditioned models).
        intensity: 0..1.5; scales the one-hot vector, and sets the label map value (clipped to 1).
        source_crop: (N, N, 3) uint8 BGR aligned crop of the driving face (image-driven models).
        Returns (N, N, 3) uint8 BGR, a new array.
        Raises InputError when an input the model needs is missing or has the wrong size.
        """
        if driven_landmarks68 is None and LANDMARKS_ROLE in self.auxiliary:
            driven_landmarks68 = self.predict_landmarks(target_crop, label, intensity)
        fill_inputs(self._inputs, self.manifest, target_crop, driven_landmarks68, label, intensity, source_crop)
        out = self.backend.run(self._inputs.arrays)
        return _to_bgr(out[0])

    def predict_landmarks(self, target_crop: np.ndarray, label: int | str | None, intensity: float = 1.0) -> np.ndarray:
        """Stage I (the ``landmarks`` network): (68, 2) float32 target landmarks in crop pixels.

        target_crop: (N, N, 3) uint8 BGR; label and intensity as for :meth:`generate`.
        """
        out = self._network(LANDMARKS_ROLE).run(target_crop, label=label, intensity=intensity)
        return (out[0].reshape(-1, 2) * self.size).astype(np.float32)

    def remove_expression(self, crop: np.ndarray, landmarks68: np.ndarray) -> np.ndarray:
        """G2-GAN's G_R (the ``removal`` network): the face of ``crop`` with a neutral expression.

        crop: (N, N, 3) uint8 BGR aligned crop of an expressive face; landmarks68: (68, 2) its own
        landmarks in crop pixels (G_R's heatmaps "indicate the state" of the input, paper 2 3.1).
        Returns (N, N, 3) uint8 BGR.
        """
        out = self._network(REMOVAL_ROLE).run(crop, landmarks=landmarks68)
        return _to_bgr(out[0])

    def _network(self, role: str) -> "AuxiliaryNetwork":
        try:
            return self.auxiliary[role]
        except KeyError:
            raise ModelError(f"{self.manifest.name} has no {role} network") from None

    def probe_inputs(self, crop: np.ndarray, landmarks68: np.ndarray) -> dict[str, np.ndarray]:
        """The generator's inputs for one real face (used by calibration and the bench)."""
        return probe_inputs(self.manifest, crop, landmarks68)

    def close(self) -> None:
        self.backend.close()
        for network in self.auxiliary.values():
            network.close()

    def __enter__(self) -> "NeuralGenerator":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AuxiliaryNetwork:
    """One auxiliary network of a model folder (``manifest.auxiliary[role]``) with reused inputs.

    Its inputs are the registered family ``<family>_<role>``'s, filled like the generator's
    (:func:`fill_inputs`). Not thread-safe.
    """

    def __init__(self, manifest: Manifest, role: str, backend: Backend) -> None:
        self.manifest = manifest
        self.role = role
        self.backend = backend
        self._inputs = _Inputs(network_family(manifest, role)[0].inputs, manifest.image_size)

    @classmethod
    def open(
        cls,
        manifest: Manifest,
        folder: Path,
        role: str,
        backend: str = "onnxruntime",
        *,
        threads: int | None = None,
        on_status: StatusCallback | None = None,
    ) -> "AuxiliaryNetwork":
        """Load ``role`` on ``backend`` in fp32 (falling back to another backend with a status).

        Raises ModelError when the folder has no such network or its files are missing/corrupt.
        """
        if role not in manifest.auxiliary:
            raise ModelError(f"{manifest.name} has no {role} network (it has: {', '.join(manifest.auxiliary) or 'none'})")
        name = parse_spec(backend)[0] if backend and backend != "auto" else "onnxruntime"
        loaded = open_backend(manifest, folder, name, "fp32", network=role, threads=threads, on_status=on_status)
        return cls(manifest, role, loaded)

    @property
    def inputs(self) -> dict[str, np.ndarray]:
        """The input buffers (batch 1) as filled for the latest :meth:`run`, by input name; read only."""
        return self._inputs.arrays

    def run(
        self,
        crop: np.ndarray,
        landmarks: np.ndarray | None = None,
        label: int | str | None = None,
        intensity: float = 1.0,
        source: np.ndarray | None = None,
    ) -> np.ndarray:
        """The network's first output for one (N, N, 3) uint8 BGR crop (a new array, batch axis first)."""
        fill_inputs(self._inputs, self.manifest, crop, landmarks, label, intensity, source)
        return np.array(self.backend.run(self._inputs.arrays), dtype=np.float32)

    def close(self) -> None:
        self.backend.close()


def _to_bgr(output: np.ndarray) -> np.ndarray:
    """(3, N, N) float RGB in [-1, 1] -> (N, N, 3) uint8 BGR."""
    rgb = np.clip((output.transpose(1, 2, 0) + 1.0) * 127.5, 0, 255)
    return cv2.cvtColor(rgb.round().astype(np.uint8), cv2.COLOR_RGB2BGR)


def default_probe(size: int, photo: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(crop, landmarks) for calibration: the bundled photo, centre-cropped square and resized to
    ``size``, with the canonical template's landmarks.

    Without the photo (a broken install) a smooth deterministic pattern stands in, with a warning:
    it still exposes NaN and precision loss, but judges quality on less natural content.
    """
    from engine.geometry.align import canonical68

    landmarks = (canonical68() * size).astype(np.float32)
    path = photo or resources.SAMPLES / PROBE_PHOTO
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        log.warning("%s missing or unreadable: calibrating on a synthetic pattern", path)
        return _pattern(size), landmarks
    h, w = image.shape[:2]
    side = min(h, w)
    y0, x0 = (h - side) // 2, (w - side) // 2
    crop = cv2.resize(image[y0 : y0 + side, x0 : x0 + side], (size, size), interpolation=cv2.INTER_AREA)
    return crop, landmarks


def _pattern(size: int) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    rng = np.random.default_rng(0)
    base = np.stack([0.5 + 0.4 * np.sin(6 * x + c) * np.cos(5 * y - c) for c in (0.0, 1.0, 2.0)], axis=-1)
    noise = cv2.GaussianBlur(rng.random((size, size, 3), dtype=np.float32), (0, 0), 2.0) - 0.5
    return np.clip((base + 0.2 * noise) * 255, 0, 255).astype(np.uint8)


def probe_inputs(manifest: Manifest, crop: np.ndarray, landmarks68: np.ndarray) -> dict[str, np.ndarray]:
    """The generator's inputs (batch 1, fresh arrays) for one real face crop and its landmarks,
    with the manifest's second label ("happy") at full intensity and the crop as the source image."""
    inputs = _Inputs(manifest.inputs, manifest.image_size)
    names = manifest.labels or EXPRESSIONS
    fill_inputs(inputs, manifest, crop, landmarks68, names[1 % len(names)], 1.0, crop)
    return {k: v.copy() for k, v in inputs.arrays.items()}


def check_crop(crop: np.ndarray | None, size: int, name: str) -> np.ndarray:
    """``crop`` if it is an (size, size, 3) uint8 image, else InputError."""
    if crop is None:
        raise InputError(f"the model is image-driven: give {name}")
    if crop.shape != (size, size, 3) or crop.dtype != np.uint8:
        raise InputError(f"{name} must be ({size}, {size}, 3) uint8, got {crop.shape} {crop.dtype}")
    return crop


def label_index(manifest: Manifest, label: int | str | None) -> int:
    """Index of ``label`` (a name or an index) in the manifest's labels; InputError when invalid."""
    names = manifest.labels or EXPRESSIONS
    if label is None:
        raise InputError(f"{manifest.name} is label-conditioned: give an expression ({', '.join(names)})")
    if isinstance(label, str):
        key = label.strip().lower()
        if key not in names:
            raise InputError(f"unknown expression {label!r} for {manifest.name}; valid: {', '.join(names)}")
        return names.index(key)
    if not 0 <= int(label) < len(names):
        raise InputError(f"label index {label} out of range 0..{len(names) - 1}")
    return int(label)


def fill_inputs(
    inputs: _Inputs,
    manifest: Manifest,
    target: np.ndarray,
    landmarks: np.ndarray | None,
    label: int | str | None,
    intensity: float,
    source: np.ndarray | None,
) -> None:
    """Write every input of ``inputs.specs`` into its buffer (see the module docstring for the kinds)."""
    n = inputs.size
    check_crop(target, n, "target_crop")
    for spec in inputs.specs:
        buf = inputs.arrays[spec.name][0]
        kind = spec.kind
        if kind == "image":
            unit_range_into(buf, target)
        elif kind == "source_image":
            unit_range_into(buf, check_crop(source, n, "source_crop"))
        elif kind == "noise":
            buf.fill(0.0)
        elif kind in ("label_maps", "label_onehot"):
            key = (label_index(manifest, label), float(intensity))
            if inputs.label_keys.get(spec.name) == key:
                continue  # label inputs change only when the user changes the expression
            if kind == "label_maps":
                np.copyto(buf, label_maps(key[0], spec.channels, n, intensity))
            else:
                buf.fill(0.0)
                buf[key[0]] = intensity
            inputs.label_keys[spec.name] = key
        elif landmarks is None:
            raise InputError(f"{manifest.name} needs driven landmarks (input {spec.name!r})")
        elif kind == "heatmap68":
            heatmaps_into(buf, landmarks, inputs.grid)
        elif kind == "heatmap1":
            np.max(heatmaps_into(inputs.scratch, landmarks, inputs.grid), axis=0, out=buf[0])
        elif kind == "landmark_image":
            unit_range_into(buf, landmark_image(target, np.asarray(landmarks, dtype=np.float32)))
        elif kind == "landmarks":
            np.multiply(np.asarray(landmarks, dtype=np.float32), 1.0 / n, out=buf)
