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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import ModelError
from engine.nets.registry import InputSpec

SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"


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
            return Manifest(**values)
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"malformed manifest: {exc}") from exc


def load_manifest(folder: str | Path) -> Manifest:
    """Read ``folder/manifest.json``; raises :class:`ModelError` with the path on any problem."""
    path = Path(folder) / MANIFEST_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{path}: no manifest.json in the model folder") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: cannot read manifest ({exc})") from exc
    if not isinstance(data, dict):
        raise ModelError(f"{path}: manifest must be a JSON object")
    return Manifest.from_dict(data)
