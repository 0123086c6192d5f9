"""Cache of built artefacts (TensorRT engines, int8-quantised ONNX files, timing caches).

An artefact is valid for one model file, one device, one runtime version and one precision; the
:class:`ArtifactKey` folds all four into the file name, so a new driver-side TensorRT, another GPU
or a retrained model each miss the cache instead of loading an incompatible engine. Files live in
``appdirs.user_cache_dir("fes-desktop")`` (``$FES_CACHE_DIR`` overrides it) and are written
atomically, so a crash mid-write never leaves a truncated engine behind.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

import appdirs

from engine.errors import OutputError
from engine.io.atomic import write_bytes_atomic

log = logging.getLogger(__name__)

APP_NAME = "fes-desktop"
CACHE_ENV = "FES_CACHE_DIR"


def cache_root() -> Path:
    """The user cache directory of the app (created on demand by the writers)."""
    override = os.environ.get(CACHE_ENV)
    return Path(override) if override else Path(appdirs.user_cache_dir(APP_NAME))


_HASHES: dict[tuple[str, int, int], str] = {}
_HASH_LOCK = threading.Lock()


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes, memoised per (path, size, mtime) so a hot path pays once."""
    p = Path(path)
    st = p.stat()
    memo = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    with _HASH_LOCK:
        if memo in _HASHES:
            return _HASHES[memo]
    digest = hashlib.sha256()
    with p.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    value = digest.hexdigest()
    with _HASH_LOCK:
        _HASHES[memo] = value
    return value


@dataclass(frozen=True)
class ArtifactKey:
    """What a built artefact depends on.

    kind: what was built (``"tensorrt"``, ``"onnxruntime-int8"``, ``"tensorrt-timing"``).
    model_sha256: hash of the source ONNX file ("" for a per-device timing cache).
    device: GPU name (``torch.cuda.get_device_name``), or ``"cpu"``.
    runtime_version: version of the runtime that built it (``tensorrt.__version__``, ORT's).
    precision: ``fp16``, ``fp32``, ``int8``.
    settings: build settings the artefact depends on (TensorRT: workspace, batch range, TF32).
    """

    kind: str
    model_sha256: str
    device: str
    runtime_version: str
    precision: str
    settings: str = ""

    def digest(self) -> str:
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]

    def filename(self, suffix: str) -> str:
        return f"{self.kind}-{self.precision}-{self.digest()}{suffix}"


class ArtifactCache:
    """A folder of artefacts named by :class:`ArtifactKey`, each with a ``.json`` note of its key.

    ``hits`` and ``misses`` count :meth:`get` outcomes (for reports and tests).
    """

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else cache_root() / "engines"
        self.hits = 0
        self.misses = 0

    def path(self, key: ArtifactKey, suffix: str) -> Path:
        return self.root / key.filename(suffix)

    def find(self, key: ArtifactKey, suffix: str) -> Path | None:
        """The cached file's path for ``key``, or None when absent (for runtimes that load from a path)."""
        path = self.path(key, suffix)
        if path.is_file():
            self.hits += 1
            return path
        self.misses += 1
        return None

    def get(self, key: ArtifactKey, suffix: str) -> bytes | None:
        """The cached bytes for ``key``, or None when absent or unreadable."""
        path = self.path(key, suffix)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            self.misses += 1
            return None
        except OSError as exc:
            log.warning("cannot read cached %s (%s); it will be rebuilt", path, exc)
            self.misses += 1
            return None
        self.hits += 1
        log.debug("cache hit %s", path)
        return data

    def put(self, key: ArtifactKey, suffix: str, data: bytes) -> Path:
        """Write ``data`` atomically and return its path; the key is written beside it as JSON.

        Raises OutputError when the cache folder cannot be written.
        """
        path = self.path(key, suffix)
        write_atomic(path, data)
        write_atomic(path.with_name(path.name + ".json"), json.dumps(asdict(key), indent=2).encode("utf-8"))
        log.info("cached %s", path)
        return path

    def discard(self, key: ArtifactKey, suffix: str) -> None:
        """Remove a cached artefact that turned out unusable (e.g. it fails to deserialise)."""
        path = self.path(key, suffix)
        for p in (path, path.with_name(path.name + ".json")):
            p.unlink(missing_ok=True)


def write_atomic(path: Path, data: bytes) -> None:
    """Create the folder and write ``data`` atomically; raises OutputError (disk full, read-only)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{path.parent}: cannot create the cache folder ({exc.strerror})") from exc
    write_bytes_atomic(path, data)
