"""Which controls a model needs, read from its manifest's input kinds (no Qt).

A label-only model shows no landmark editor; an image-driven model (a ``source_image`` input)
asks for a driving photo when editing; the classical warp uses the geometry (labels and
landmarks) and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.manifest import Manifest, load_manifest
from engine.synthesis.generators import WARP, model_folder

LANDMARK_KINDS = frozenset({"heatmap68", "heatmap1", "landmark_image", "landmarks"})
LABEL_KINDS = frozenset({"label_maps", "label_onehot"})


@dataclass(frozen=True)
class ModelInfo:
    """name: as the engine takes it; title: for menus; details: manifest facts, one per line.

    landmarks: the output follows the 68 target landmarks (the editor is shown);
    labels: the expression labels change the output; source_image: needs a driving photo.
    """

    name: str
    title: str
    details: tuple[str, ...]
    landmarks: bool
    labels: bool
    source_image: bool
    manifest: Manifest | None = None

    @staticmethod
    def of(name: str) -> ModelInfo:
        """Raises ModelError for an unknown model or an unreadable manifest."""
        if name == WARP:
            return ModelInfo(
                WARP,
                "Classical warp",
                ("Training-free piecewise-affine mesh warp with mouth-interior synthesis.", "Runs anywhere; no backend needed."),
                landmarks=True,
                labels=True,
                source_image=False,
            )
        manifest = load_manifest(model_folder(name))
        kinds = set(manifest.kinds())
        landmarks = bool(kinds & LANDMARK_KINDS) or manifest.prewarp
        details = [
            f"Paper: {manifest.paper}",
            f"Version {manifest.version}, {manifest.image_size} x {manifest.image_size} px",
            f"Inputs: {', '.join(spec.kind for spec in manifest.inputs)}",
        ]
        if manifest.training_data:
            details.append(f"Trained on: {manifest.training_data}")
        if manifest.metrics:
            details.append("Held-out metrics: " + ", ".join(f"{k} {v:.3g}" for k, v in sorted(manifest.metrics.items())))
        if manifest.licence:
            details.append(f"Licence: {manifest.licence}")
        return ModelInfo(
            name,
            f"{manifest.name} ({manifest.family})",
            tuple(details),
            landmarks=landmarks,
            labels=bool(kinds & LABEL_KINDS) or landmarks,
            source_image="source_image" in kinds,
            manifest=manifest,
        )
