"""The model manifest: what crosses from training to the app beside ``model.onnx`` and ``weights.safetensors``.

Layout of a model folder (``resources/models/<name>/`` or any user folder)::

    manifest.json         this dataclass as JSON (schema_version 1)
    model.onnx            the generator, dynamic batch axis
    weights.safetensors   the same weights, for the PyTorch backend (rebuilt via engine.nets)
    <aux>.onnx / <aux>.safetensors   optional auxiliary networks named in ``auxiliary``
"""

from __future__ import annotations

import dataclasses
import json
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import ModelError
from engine.nets.registry import InputSpec

SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"
MAX_MANIFEST_BYTES = 1 << 20
MAX_MODEL_FILE_BYTES = 4 << 30
"""The largest network file a manifest may name (4 GiB); bigger is refused before it is hashed."""
MAX_IMAGE_SIZE = 4096


@dataclass(frozen=True)
class Manifest:
    name: str
    family: str  # engine.nets registry name
    paper: str
    version: str
    image_size: int
    inputs: tuple[InputSpec, ...]
    architecture: dict[str, Any]  # the family's frozen config as a dict
    labels: tuple[str, ...] = ()  # label order for label_maps / label_onehot inputs
    normalisation: str = "RGB, [-1, 1], (x / 127.5) - 1"
    outputs: tuple[str, ...] = ("image",)
    prewarp: bool = False  # True: the image input is first mesh-warped to the target shape
    onnx: str = "model.onnx"
    weights: str = "weights.safetensors"
    auxiliary: dict[str, str] = field(default_factory=dict)  # role -> file stem, e.g. {"landmarks": "landmarks"}
    training_data: str = ""
    metrics: dict[str, float] = field(default_factory=dict)  # measured on held-out people
    licence: str = ""
    schema_version: int = SCHEMA_VERSION

    def kinds(self) -> tuple[str, ...]:
        return tuple(spec.kind for spec in self.inputs)

    def to_json(self) -> str:
        data = dataclasses.asdict(self)
        return json.dumps(data, indent=2, sort_keys=False)

    @staticmethod
    def from_dict(data: dict[str, Any]) -> "Manifest":
        try:
            version = int(data.get("schema_version", SCHEMA_VERSION))
            if version != SCHEMA_VERSION:
                raise ModelError(f"manifest schema {version} is not supported (expected {SCHEMA_VERSION})")
            fields = {f.name for f in dataclasses.fields(Manifest)}
            values = {k: v for k, v in data.items() if k in fields}
            values["inputs"] = tuple(InputSpec(**spec) for spec in data["inputs"])
            values["labels"] = tuple(data.get("labels", ()))
            values["outputs"] = tuple(data.get("outputs", ("image",)))
            manifest = Manifest(**values)
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"malformed manifest: {exc}") from exc
        manifest.check()
        return manifest

    def check(self) -> None:
        """Refuse values that would crash or hang later: the image size and the file names.

        Raises:
            ModelError: ``image_size`` is not a whole number in 1..4096, a file name
                (``onnx``, ``weights``, an ``auxiliary`` stem) is not a plain relative name, or
                ``metrics`` is not a map of names to numbers.
        """
        size = self.image_size
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_IMAGE_SIZE:
            raise ModelError(f"malformed manifest: image_size must be a whole number of pixels in 1..{MAX_IMAGE_SIZE}, got {size!r}")
        for key, name in self.file_names().items():
            if not isinstance(name, str) or not name.strip() or name.strip() in (".", ".."):
                raise ModelError(f"malformed manifest: {key} must name a file in the model folder, got {name!r}")
        if not isinstance(self.metrics, dict) or not all(
            isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool) for k, v in self.metrics.items()
        ):
            raise ModelError("malformed manifest: metrics must map names to numbers")

    def file_names(self) -> dict[str, str]:
        """Every file the manifest names, keyed by where it is named (``onnx``, ``auxiliary.landmarks.onnx``)."""
        names = {"onnx": self.onnx, "weights": self.weights}
        for role, stem in self.auxiliary.items():
            names[f"auxiliary.{role}.onnx"] = f"{stem}.onnx" if isinstance(stem, str) else stem
            names[f"auxiliary.{role}.safetensors"] = f"{stem}.safetensors" if isinstance(stem, str) else stem
        return names


def model_file(folder: str | Path, name: str, what: str = "model file") -> Path:
    """The file ``name`` of a model folder, checked before anything opens it.

    ``name`` comes from a manifest, which may have been written by anyone: after symlinks it
    must resolve inside ``folder`` and be a regular file (not a folder, FIFO or device) of at
    most :data:`MAX_MODEL_FILE_BYTES`.

    Returns:
        The resolved path.

    Raises:
        ModelError: the file is missing, lies outside the folder, is not a regular file, or is
            too large. The message names the manifest entry, never the outside path it points to.
    """
    root = Path(folder).resolve()
    path = (root / name).resolve()
    if path != root and root not in path.parents:
        raise ModelError(f"{root / MANIFEST_NAME}: the {what} {name!r} is outside the model folder")
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ModelError(f"{root / name}: {what} missing from the model folder") from None
    except OSError as exc:
        raise ModelError(f"{root / name}: cannot read the {what} ({exc.strerror or exc})") from exc
    if not stat.S_ISREG(info.st_mode):
        kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise ModelError(f"{root / name}: the {what} is {kind}")
    if info.st_size > MAX_MODEL_FILE_BYTES:
        raise ModelError(f"{root / name}: the {what} is {info.st_size / 2**30:.1f} GiB, more than the {MAX_MODEL_FILE_BYTES >> 30} GiB a model file may have")
    return path


def load_manifest(folder: str | Path) -> Manifest:
    """Read ``folder/manifest.json``; raises :class:`ModelError` with the path on any problem
    (see :meth:`Manifest.check`; the files it names are checked by :func:`model_file` when opened)."""
    path = Path(folder) / MANIFEST_NAME
    if not path.exists():
        raise ModelError(f"{path}: no manifest.json in the model folder")
    checked = model_file(folder, MANIFEST_NAME, "manifest")
    if checked.stat().st_size > MAX_MANIFEST_BYTES:
        raise ModelError(f"{path}: the manifest is larger than {MAX_MANIFEST_BYTES >> 20} MiB")
    try:
        data = json.loads(checked.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: cannot read manifest ({exc})") from exc
    except RecursionError:
        raise ModelError(f"{path}: cannot read manifest (nested too deeply)") from None
    if not isinstance(data, dict):
        raise ModelError(f"{path}: manifest must be a JSON object")
    return Manifest.from_dict(data)
