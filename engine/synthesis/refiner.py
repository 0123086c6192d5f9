"""The warp-guided generator at run time: warp at full resolution, refine the face crop, paste the change.

::

    gen = RefinerGenerator(model_folder("warpguided-london-256"), backend="auto")
    out = gen.render(RenderRequest(photo, face, dst_mesh))      # (H, W, 3) uint8 BGR

For one request:

1. the photo is mesh-warped to ``dst_mesh`` at its own resolution (:func:`engine.synthesis.warp.warp_face`);
2. the warped photo is aligned to an N x N crop on the driven geometry's 68 points (as in training,
   training/data/prewarp.py), and the driven mesh is drawn as the guidance map
   (:func:`engine.synthesis.guidance.guidance_map`);
3. the network returns the refined crop and its attention mask A (engine/nets/warpguided.py);
4. the refined crop and A go back through the crop's inverse similarity; where A is below
   ``MASK_FLOOR`` the warped photo is kept exactly, elsewhere ``A * refined + (1 - A) * warped``.
   Only the region A touches is resampled, so the rest keeps the photo's full resolution.

``last_mask`` holds the full-photo attention of the latest render (tests and the app's overlay).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

import resources
from engine.backends.base import default_threads
from engine.backends.select import GuardedBackend, SelectOptions, select_backend
from engine.errors import ModelError
from engine.face.ibug68 import mesh_to_ibug68
from engine.face.tracker import FaceTracker, TrackerOptions
from engine.geometry.align import align_face, invert, transform_points
from engine.io.images import read_image
from engine.manifest import Manifest, load_manifest
from engine.synthesis.neural_crop import PROBE_PHOTO
from engine.synthesis.guidance import guidance_map, region_mask
from engine.synthesis.warp import warp_face
from engine.types import Face

log = logging.getLogger(__name__)

MASK_FLOOR = 2.0 / 255.0  # attention below this leaves the warp's pixel untouched
INTERIOR_SHRINK = 0.06  # the attention is kept inside the face outline shrunk by this share of its radius
FOREHEAD_MARGIN = 0.12  # ... and below this many inter-ocular distances above the brows' top
BROWS = (70, 63, 105, 66, 107, 336, 296, 334, 293, 300)  # FaceMesh upper brow contours
ATTENTION = "attention"


def is_refiner(manifest: Manifest) -> bool:
    """True for a model whose output carries an attention channel (warp-guided refiners)."""
    return ATTENTION in manifest.outputs


class RefinerGenerator:
    """A warp-guided model folder run by a backend (see the module docstring).

    folder: the model folder; backend: "auto" (calibrated, cached per machine) or a backend name;
    probe_face: (photo, face) the first-use calibration runs on; on_status: hears about fallbacks.
    Not thread-safe: one thread renders (the pipeline's render stage).
    """

    def __init__(
        self,
        folder: Path,
        backend: str = "auto",
        probe_face: tuple[np.ndarray, Face] | None = None,
        on_status: Callable[[str], None] | None = None,
    ) -> None:
        self.folder = folder
        self.manifest = load_manifest(folder)
        if not is_refiner(self.manifest) or [s.kind for s in self.manifest.inputs] != ["image", "guidance"]:
            raise ModelError(f"{folder}: not a warp-guided model (inputs image + guidance, outputs image + attention)")
        self.size = self.manifest.image_size
        self.name = self.manifest.name
        self.description = "learned warp-guided refiner: the warp moves the face, the network paints mouth and creases"
        n = self.size
        self._image = np.zeros((1, 3, n, n), np.float32)
        self._guidance = np.zeros((1, 3, n, n), np.float32)
        self._guidance_hwc = np.zeros((n, n, 3), np.float32)
        self._names = [spec.name for spec in self.manifest.inputs]
        threads = default_threads()
        options = SelectOptions(backend=None if backend in (None, "auto") else backend, threads=threads)
        choice, chosen = select_backend(self.manifest, folder, self._probe(probe_face), options)
        self.choice = choice
        self.backend = GuardedBackend(chosen, self.manifest, folder, threads=threads, on_status=on_status)
        self.last_mask: np.ndarray | None = None

    @property
    def backend_label(self) -> str:
        """What runs the model now, e.g. ``torch-bf16`` (changes after a fallback)."""
        return self.backend.label

    def _probe(self, probe_face: tuple[np.ndarray, Face] | None) -> dict[str, np.ndarray]:
        """Calibration inputs: a real face (the given one, else the bundled sample photo) at rest."""
        if probe_face is None:
            image = read_image(resources.SAMPLES / PROBE_PHOTO)
            with FaceTracker.create(TrackerOptions(smoothing=None)) as tracker:
                probe_face = (image, tracker.detect(image).face)
        image, face = probe_face
        return self.inputs(image, face.mesh)

    def inputs(self, warped: np.ndarray, dst_mesh: np.ndarray) -> dict[str, np.ndarray]:
        """The network's inputs (fresh arrays, batch 1) for a photo already warped to ``dst_mesh``."""
        self._fill(warped, np.asarray(dst_mesh, np.float64))
        return {self._names[0]: self._image.copy(), self._names[1]: self._guidance.copy()}

    def __enter__(self) -> "RefinerGenerator":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _fill(self, warped: np.ndarray, dst_mesh: np.ndarray) -> np.ndarray:
        """Fill the input buffers from the warped photo; returns the photo -> crop matrix."""
        n = self.size
        crop = align_face(warped, mesh_to_ibug68(dst_mesh), n)
        rgb = crop.image[:, :, ::-1]
        np.multiply(rgb.transpose(2, 0, 1), 1.0 / 127.5, out=self._image[0], casting="unsafe")
        self._image -= 1.0
        guidance_map(transform_points(dst_mesh, crop.matrix), n, out=self._guidance_hwc)
        self._guidance[0] = self._guidance_hwc.transpose(2, 0, 1)
        return crop.matrix

    def refine_crop(self, warped: np.ndarray, dst_mesh: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(refined crop (N, N, 3) uint8 BGR, attention (N, N) float32 [0, 1], photo -> crop 2x3 matrix)."""
        matrix = self._fill(warped, dst_mesh)
        out = self.backend.run({self._names[0]: self._image, self._names[1]: self._guidance})[0]
        rgb = np.clip((out[:3].transpose(1, 2, 0) + 1.0) * 127.5, 0, 255).round().astype(np.uint8)
        attention = np.clip(out[3], 0.0, 1.0).astype(np.float32) * self._interior(transform_points(dst_mesh, matrix))
        return np.ascontiguousarray(rgb[:, :, ::-1]), attention, matrix

    def _interior(self, mesh: np.ndarray) -> np.ndarray:
        """(N, N) float32 [0, 1]: where the network may paint, for the crop mesh (478, 2).

        Half the training pairs are two photos whose hair and background differ, so their loss
        stops at the face outline and the network's paint there is unchecked: it speckles the jaw
        line by the ears, and on a high forehead it draws a faint vertical streak. Its work (mouth,
        creases, cheeks, eyes, brow furrows) lies inside, so the attention is kept to the face
        outline shrunk by INTERIOR_SHRINK of its radius, and below FOREHEAD_MARGIN inter-ocular
        distances above the brows."""
        inside = region_mask(mesh, self.size, grow=-INTERIOR_SHRINK)
        iod = float(np.linalg.norm(mesh[33] - mesh[263]))
        top = float(mesh[list(BROWS), 1].min()) - FOREHEAD_MARGIN * iod
        rows = np.arange(self.size, dtype=np.float32)[:, None]
        return inside * np.clip((rows - top) / max(0.1 * iod, 1.0) + 0.5, 0.0, 1.0)

    def render(self, request) -> np.ndarray:
        """``request``: an :class:`engine.synthesis.photo_generators.RenderRequest`; returns the full photo."""
        warped = warp_face(request.image, request.face.mesh, request.dst_mesh, head_motion=request.head_motion).image
        refined, mask, matrix = self.refine_crop(warped, np.asarray(request.dst_mesh, np.float64))
        out, self.last_mask = paste_refined(warped, refined, mask, matrix)
        return out

    def close(self) -> None:
        self.backend.close()


def paste_refined(warped: np.ndarray, refined: np.ndarray, mask: np.ndarray, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Blend the refined crop into the warped photo by its attention (see the module docstring).

    warped: (H, W, 3) uint8; refined: (N, N, 3) uint8; mask: (N, N) float32; matrix: photo -> crop 2x3.
    Returns (photo (H, W, 3) uint8, attention in photo pixels (H, W) float32, 0 where untouched).
    """
    h, w = warped.shape[:2]
    full_mask = np.zeros((h, w), np.float32)
    out = warped.copy()
    mask = np.where(mask < MASK_FLOOR, 0.0, mask).astype(np.float32)
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return out, full_mask
    # The photo box the changed crop pixels map to, one pixel of margin for interpolation.
    inverse = invert(matrix)
    corners = np.array([[xs.min() - 1, ys.min() - 1], [xs.max() + 1, ys.min() - 1],
                        [xs.min() - 1, ys.max() + 1], [xs.max() + 1, ys.max() + 1]], np.float64)
    box = transform_points(corners, inverse)
    x0, y0 = np.floor(box.min(0)).astype(int)
    x1, y1 = np.ceil(box.max(0)).astype(int) + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 <= x0 or y1 <= y0:
        return out, full_mask
    local = np.asarray(matrix, np.float64) @ np.array([[1, 0, x0], [0, 1, y0], [0, 0, 1]], np.float64)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    size = (x1 - x0, y1 - y0)
    a = cv2.warpAffine(mask, local, size, flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    a[a < MASK_FLOOR] = 0.0
    colour = cv2.warpAffine(refined, local, size, flags=flags, borderMode=cv2.BORDER_REPLICATE)
    region = out[y0:y1, x0:x1]
    blended = region.astype(np.float32) * (1.0 - a[..., None]) + colour.astype(np.float32) * a[..., None]
    changed = a > 0
    region[changed] = np.clip(blended[changed] + 0.5, 0, 255).astype(np.uint8)
    full_mask[y0:y1, x0:x1] = a
    return out, full_mask

