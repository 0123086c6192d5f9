"""Which controls a model needs, read from its manifest's input kinds (no Qt).

A label-only model shows no landmark editor; an image-driven model (a ``source_image`` input)
asks for a driving photo when editing; the classical warp uses the geometry (labels and
landmarks) and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.manifest import Manifest, load_manifest
from engine.synthesis.photo_generators import WARP, model_folder

PURPOSES = {
    "warpguided": "Starts from the warp and paints what a warp cannot: teeth and inner lips, creases, cheek shading.",
    "lgan": "Redraws the face from its landmarks and an expression label (paper 1)",
    "g2gan": "Draws an expression from the face's shape and can remove it again (G2-GAN, paper 2)",
    "unet_cgan": "Repaints the face for an expression label with a U-Net (paper 3)",
    "tergan": "Moves the expression of a driving photo onto the face (TER-GAN, paper 4)",
    "landmarkgan": "Invents landmarks for a label, then draws the face from them (LandmarkGAN, paper 5)",
}
"""What each family is for, in an artist's words (the model panel's first line)."""

WARP_PURPOSE = "Moves the photo's own pixels into the new expression and paints a simple mouth inside. Fast; runs anywhere."

LANDMARK_KINDS = frozenset({"heatmap68", "heatmap1", "landmark_image", "landmarks"})
LABEL_KINDS = frozenset({"label_maps", "label_onehot"})


@dataclass(frozen=True)
class ModelInfo:
    """name: as the engine takes it; title: for menus; purpose: what it is for, one sentence;
    quality: how it compares with the warp on people it never saw, one line; details: manifest
    facts, one per line (the panel's details toggle).

    landmarks: the output follows the 68 target landmarks (the editor is shown);
    labels: the expression labels change the output; source_image: needs a driving photo.
    """

    name: str
    title: str
    purpose: str
    quality: str
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
                WARP_PURPOSE,
                "The reference every learned model is measured against.",
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
            _purpose(manifest),
            quality_line(manifest.metrics),
            tuple(details),
            landmarks=landmarks,
            labels=bool(kinds & LABEL_KINDS) or landmarks,
            source_image="source_image" in kinds,
            manifest=manifest,
        )


def _purpose(manifest: Manifest) -> str:
    purpose = PURPOSES.get(manifest.family)
    if purpose is None:
        return f"From {manifest.paper}." if manifest.paper else "A learned generator."
    if manifest.family == "warpguided":
        return purpose
    on_warp = ", on top of the warp" if manifest.prewarp else ""
    return f"{purpose}{on_warp}, at {manifest.image_size} px."


def quality_line(metrics: dict[str, float]) -> str:
    """One line from the manifest's held-out figures: its SSIM to the real smiles in the mouth
    and over the face, beside the warp's where the manifest records them (``warp_heldout_*``)."""
    mouth, face = metrics.get("heldout_mouth_ssim"), metrics.get("heldout_crop_ssim")
    if mouth is None or face is None:
        return "Not yet compared with the warp on people it never saw."
    warp_mouth, warp_face = metrics.get("warp_heldout_mouth_ssim"), metrics.get("warp_heldout_crop_ssim")
    if warp_mouth is None or warp_face is None:
        return f"Like the real smile on unseen people: mouth {mouth:.0%}, whole face {face:.0%} (no warp figures)."
    verdict = "closer to real smiles than the warp" if mouth > warp_mouth and face > warp_face else (
        "further from real smiles than the warp" if mouth < warp_mouth and face < warp_face else "mixed against the warp"
    )
    return (
        f"On people it never saw, {verdict}: mouth {mouth:.0%} like the real smile (warp {warp_mouth:.0%}), "
        f"whole face {face:.0%} (warp {warp_face:.0%})."
    )
