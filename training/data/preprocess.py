"""Preprocessing through the engine, cached on disk once per dataset, crop size and engine version.

Each photo is read with ``engine.io``, its face found by ``engine.face`` (FaceMesh, static-image
mode), aligned by ``engine.geometry.align`` to an N x N crop, and its 68 iBUG landmarks and 478 mesh
points mapped into crop pixels, exactly as the app does at run time. Results go to one ``.npz`` per
photo under ``<cache root>/<dataset>-<N>-<key>/``; a photo without a usable face gets a ``.noface``
marker instead so it is not tried again, and is reported.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import engine
from engine.errors import InputError, NoFaceError
from training.data.adapters import Sample

log = logging.getLogger(__name__)

PREPROCESS_VERSION = 1


@dataclass(frozen=True)
class Prepared:
    """One aligned photo.

    image: (N, N, 3) uint8 BGR crop. landmarks: (68, 2) float32 crop pixels.
    mesh3d: (478, 3) float32 FaceMesh points: x, y in crop pixels, z (MediaPipe relative depth)
    in the same crop-pixel scale.
    """

    sample: Sample
    image: np.ndarray
    landmarks: np.ndarray
    mesh3d: np.ndarray


@dataclass(frozen=True)
class PreprocessReport:
    total: int
    reused: int
    processed: int
    skipped: dict[str, str] = field(default_factory=dict)  # photo path -> why (no face, unreadable)

    def summary(self) -> str:
        return (
            f"{self.total} photos: {self.reused} from cache, {self.processed} processed, "
            f"{len(self.skipped)} skipped (no usable face or unreadable)"
        )


def default_cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fes-desktop" / "preprocess"


def cache_dir(root: str | Path, size: int, cache_root: str | Path | None = None) -> Path:
    """The cache folder of one dataset root at one crop size for this engine version."""
    resolved = Path(root).expanduser().resolve()
    key = hashlib.sha1(f"{resolved}|{size}|{engine.__version__}|{PREPROCESS_VERSION}".encode()).hexdigest()[:16]
    return Path(cache_root or default_cache_root()) / f"{resolved.name}-{size}-{key}"


def _entry_stem(path: Path) -> str:
    stat = path.stat()
    return hashlib.sha1(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:24]


def _write_atomic(target: Path, write) -> None:
    handle, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=target.suffix)
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class _Aligner:
    """The engine steps for one photo; the tracker is created on first use (FaceMesh start-up is slow)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._tracker = None

    def __call__(self, path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Returns (crop (N, N, 3) uint8 BGR, landmarks (68, 2), mesh3d (478, 3)) in crop pixels."""
        from engine.face.tracker import FaceTracker
        from engine.geometry.align import align_face, transform_points
        from engine.io.images import read_image

        if self._tracker is None:
            self._tracker = FaceTracker.create()
        image = read_image(path)
        face = self._tracker.detect(image).face
        crop = align_face(image, face.landmarks68, self.size)
        landmarks = transform_points(face.landmarks68, crop.matrix)
        scale = float(np.sqrt(abs(np.linalg.det(crop.matrix[:, :2]))))
        mesh3d = np.concatenate([transform_points(face.mesh, crop.matrix), face.mesh_z[:, None] * scale], axis=1)
        return crop.image, landmarks.astype(np.float32), mesh3d.astype(np.float32)

    def close(self) -> None:
        if self._tracker is not None:
            self._tracker.close()
            self._tracker = None


def preprocess(
    samples: list[Sample], root: str | Path, size: int, cache_root: str | Path | None = None
) -> tuple[list[Prepared], PreprocessReport]:
    """Align every sample (from the cache when already done); photos without a face are left out.

    Returns the prepared photos in the order of ``samples`` and a report of what was skipped.
    Safe to run from several processes at once: every cache file is written atomically.
    """
    folder = cache_dir(root, size, cache_root)
    folder.mkdir(parents=True, exist_ok=True)
    aligner = _Aligner(size)
    prepared: list[Prepared] = []
    skipped: dict[str, str] = {}
    reused = processed = 0
    try:
        for sample in samples:
            stem = _entry_stem(sample.path)
            data_file, marker = folder / f"{stem}.npz", folder / f"{stem}.noface"
            if marker.exists():
                skipped[str(sample.path)] = marker.read_text(encoding="utf-8")
                reused += 1
                continue
            if not data_file.exists():
                try:
                    image, landmarks, mesh3d = aligner(sample.path)
                except (NoFaceError, InputError) as exc:
                    _write_atomic(marker, lambda s, e=exc: s.write(str(e).encode("utf-8")))
                    skipped[str(sample.path)] = str(exc)
                    processed += 1
                    continue
                _write_atomic(data_file, lambda s: np.savez(s, image=image, landmarks=landmarks, mesh3d=mesh3d))
                processed += 1
            else:
                reused += 1
            with np.load(data_file) as data:
                prepared.append(Prepared(sample, data["image"], data["landmarks"], data["mesh3d"]))
    finally:
        aligner.close()
    report = PreprocessReport(total=len(samples), reused=reused, processed=processed, skipped=skipped)
    log.info("preprocess %s at %d px: %s", root, size, report.summary())
    for path, why in sorted(skipped.items()):
        log.debug("skipped %s: %s", path, why)
    return prepared, report
