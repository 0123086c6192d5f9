"""``fes-train eval``: a model on held-out people, against the do-nothing and warp baselines.

The model runs exactly as the app runs it: a model folder through ``engine.synthesis.neural_crop``
(a checkpoint is first exported, with its parity check, to a temporary folder). For each held-out
pair (source photo, target photo of the same person) the model gets what the app would give it:
the source crop as ``image``; the target's landmarks (landmark-driven models); the target's label
and intensity (label-driven models; LandmarkGAN predicts the landmarks itself); and, for
image-driven models (TER-GAN), a *different* held-out person showing the target expression as
``source_image``, so the target photo itself never enters the model.

Methods compared on the same pairs:

* ``model``                  the model's output
* ``input (do nothing)``     the source photo unchanged
* ``warp (target mesh)``     engine.synthesis.warp moving the source's FaceMesh to the target's
* ``warp (label template)``  the warp to the label's template (engine.geometry.expressions) on
                             the source's own neutral mesh; only with neutral sources

Metrics are described in :mod:`training.metrics`. Landmarks of an output are found with the
engine's FaceTracker on the crop upscaled to 256 px; outputs where none is found are counted.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from torch import nn

from engine.errors import FesError, NoFaceError
from engine.face.tracker import FaceTracker
from engine.geometry.expressions import ExpressionTemplates, expression_target
from engine.geometry.labels import label_index
from engine.manifest import load_manifest
from engine.synthesis.neural_crop import GeneratorOptions, NeuralGenerator
from engine.synthesis.warp import warp_face
from training.config import DataConfig, config_from_dict, load_config
from training.data.pairs import PairDataset, make_pairs
from training.export import export_checkpoint, load_exported
from training.judges import MEASURABLE, ExpressionJudge
from training.metrics import (
    FMD_NAME,
    DlibIdentity,
    FeatureDistance,
    InceptionFid,
    expression_accuracy,
    frechet_distance,
    landmark_error,
    load_classifier,
    psnr,
    psnr_luma,
    rank1,
    ssim,
    ssim_rgb,
    verification_rates,
)
from training.trainer import load_checkpoint, prepared_split

log = logging.getLogger(__name__)

MODEL = "model"
DO_NOTHING = "input (do nothing)"
WARP_MESH = "warp (target mesh)"
WARP_TEMPLATE = "warp (label template)"
DETECT_SIZE = 256
LANDMARK_KINDS = {"heatmap68", "heatmap1", "landmark_image", "landmarks"}


class EvaluationError(FesError):
    """An evaluation cannot run (no held-out pairs, missing data config)."""


@dataclass(frozen=True)
class EvalPair:
    """One held-out pair; crops (N, N, 3) uint8 BGR, points in crop pixels."""

    source: np.ndarray
    target: np.ndarray
    other: np.ndarray  # a different person showing the target's expression
    source_mesh: np.ndarray  # (478, 2)
    target_mesh: np.ndarray  # (478, 2)
    target_landmarks: np.ndarray  # (68, 2)
    source_label: str
    label: str
    intensity: float
    person: str


@dataclass(frozen=True)
class EvalReport:
    model: str
    family: str
    dataset: str
    people: int
    pairs: int
    methods: dict[str, dict[str, float]]
    reference: dict[str, float] = field(default_factory=dict)  # the same measures on the real target photos
    notes: tuple[str, ...] = ()

    def to_json(self) -> str:
        def clean(value: Any) -> Any:
            if isinstance(value, float) and not math.isfinite(value):
                return None
            if isinstance(value, dict):
                return {k: clean(v) for k, v in value.items()}
            if isinstance(value, (list, tuple)):
                return [clean(v) for v in value]
            return value

        return json.dumps(clean(dataclasses.asdict(self)), indent=2)

    def table(self) -> str:
        """Metrics as rows, methods as columns, plain text."""
        columns = dict(self.methods)
        if self.reference:
            columns["real target"] = self.reference
        methods = list(columns)
        metrics = list(dict.fromkeys(k for m in methods for k in columns[m]))
        width = max([len(m) for m in metrics] + [6])
        cols = [max(len(m), 9) for m in methods]
        lines = [" " * width + "  " + "  ".join(m.rjust(c) for m, c in zip(methods, cols))]
        for metric in metrics:
            cells = []
            for m, c in zip(methods, cols):
                value = columns[m].get(metric)
                cells.append(("-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4g}").rjust(c))
            lines.append(metric.ljust(width) + "  " + "  ".join(cells))
        header = f"{self.model} ({self.family}) on {self.dataset}: {self.pairs} pairs of {self.people} held-out people"
        return "\n".join([header, *lines, *self.notes])


def eval_pairs(data: DataConfig, seed: int, which: str, limit: int | None = None) -> list[EvalPair]:
    items = prepared_split(data, seed, which)
    if not items:
        raise EvaluationError(f"no photos of {which} people in {data.root}")
    dataset = PairDataset(items, make_pairs(items, data.pairing), seed=seed)
    count = len(dataset) if limit is None else min(limit, len(dataset))
    out = []
    for i in range(count):
        s, t = dataset.pairs[i]
        src, tgt, other = items[s], items[t], items[dataset.other_index(i)]
        out.append(
            EvalPair(
                source=src.image,
                target=tgt.image,
                other=other.image,
                source_mesh=src.mesh3d[:, :2],
                target_mesh=tgt.mesh3d[:, :2],
                target_landmarks=tgt.landmarks,
                source_label=src.sample.expression,
                label=tgt.sample.expression,
                intensity=1.0 if tgt.sample.intensity is None else float(tgt.sample.intensity),
                person=tgt.sample.person,
            )
        )
    return out


def _run_model(folder: Path, pairs: list[EvalPair], backend: str) -> tuple[list[np.ndarray], np.ndarray | None]:
    """Outputs of the model folder, and stage-I landmarks (B, 68, 2) when it has a landmark network."""
    outputs, predicted = [], []
    with NeuralGenerator.create(GeneratorOptions(model=folder, backend=backend)) as generator:
        kinds = set(generator.manifest.kinds())
        predicts = not generator.needs_landmarks and bool(kinds & LANDMARK_KINDS)
        for pair in pairs:
            landmarks = None if predicts or not kinds & LANDMARK_KINDS else pair.target_landmarks
            source = pair.other if "source_image" in kinds else None
            outputs.append(generator.generate(pair.source, landmarks, pair.label, pair.intensity, source))
            if predicts:
                predicted.append(generator.predict_landmarks(pair.source, pair.label, pair.intensity))
    return outputs, (np.stack(predicted) if predicted else None)


def removal_scores(folder: Path, pairs: list[EvalPair], backend: str) -> dict[str, float]:
    """Paper 2's removal measure: G_R on each expressive target photo against the same person's neutral.

    PSNR on luminance and SSIM on RGB (paper 2's definitions), for G_R (``removal_*``) and for leaving
    the expressive photo as it is (``removal_nothing_*``). Pairs whose source is not neutral are skipped.
    """
    chosen = [p for p in pairs if p.source_label == "neutral"]
    if not chosen:
        return {}
    with NeuralGenerator.create(GeneratorOptions(model=folder, backend=backend)) as generator:
        removed = [generator.remove_expression(p.target, p.target_landmarks) for p in chosen]
    return {
        "removal_psnr_luma": float(np.mean([psnr_luma(r, p.source) for r, p in zip(removed, chosen)])),
        "removal_ssim_rgb": float(np.mean([ssim_rgb(r, p.source) for r, p in zip(removed, chosen)])),
        "removal_nothing_psnr_luma": float(np.mean([psnr_luma(p.target, p.source) for p in chosen])),
        "removal_nothing_ssim_rgb": float(np.mean([ssim_rgb(p.target, p.source) for p in chosen])),
    }


def _warp_outputs(pairs: list[EvalPair], templates: ExpressionTemplates | None) -> list[np.ndarray]:
    outputs = []
    for pair in pairs:
        target_mesh = pair.target_mesh if templates is None else expression_target(
            pair.source_mesh, pair.label, pair.intensity, templates
        )
        outputs.append(warp_face(pair.source, pair.source_mesh, target_mesh).image)
    return outputs


@dataclass
class _Tools:
    features: FeatureDistance
    identity: DlibIdentity
    tracker: FaceTracker
    target_descriptors: np.ndarray  # (P, 128) dlib descriptors of the target photos
    target_embeddings: np.ndarray  # (P, 1280) MobileNetV2 embeddings of the target photos
    classifier: nn.Module | None = None
    classifier_size: int = 0
    inception: InceptionFid | None = None
    judge: ExpressionJudge | None = None


def judge_recognition(judge: ExpressionJudge, tracker: FaceTracker, images: list[np.ndarray], labels: list[str]) -> float | None:
    """Paper 5's Table II measure: the share of images the independent FER-2013 judge reads as
    their label (only labels it knows; a face MediaPipe cannot find counts as not recognised).
    None when no label is measurable."""
    hits = []
    for image, label in zip(images, labels):
        if label not in MEASURABLE:
            continue
        scale = DETECT_SIZE / image.shape[0]
        big = cv2.resize(image, (DETECT_SIZE, DETECT_SIZE), interpolation=cv2.INTER_CUBIC) if scale != 1 else image
        try:
            hits.append(judge.label(big, tracker.detect(big).face.mesh) == label)
        except NoFaceError:
            hits.append(False)
    return float(np.mean(hits)) if hits else None


def _detect_landmarks(tracker: FaceTracker, image: np.ndarray) -> np.ndarray | None:
    scale = DETECT_SIZE / image.shape[0]
    big = cv2.resize(image, (DETECT_SIZE, DETECT_SIZE), interpolation=cv2.INTER_CUBIC) if scale != 1 else image
    try:
        return tracker.detect(big).face.landmarks68 / scale
    except NoFaceError:
        return None


def score(outputs: list[np.ndarray], pairs: list[EvalPair], tools: _Tools) -> dict[str, float]:
    """Every metric of one method's outputs against the pairs' target photos."""
    targets = [p.target for p in pairs]
    size = targets[0].shape[0]
    result: dict[str, float] = {
        "psnr": float(np.mean([psnr(o, t) for o, t in zip(outputs, targets)])),
        "ssim": float(np.mean([ssim(o, t) for o, t in zip(outputs, targets)])),
        "psnr_luma": float(np.mean([psnr_luma(o, t) for o, t in zip(outputs, targets)])),  # paper 2's PSNR
        "ssim_rgb": float(np.mean([ssim_rgb(o, t) for o, t in zip(outputs, targets)])),  # paper 2's SSIM
    }
    embeddings = tools.features.embed(outputs)
    result["feature_distance"] = float(tools.features.pair_distances(embeddings, tools.target_embeddings).mean())
    if len(outputs) >= 2:
        result[FMD_NAME] = frechet_distance(tools.target_embeddings, embeddings)
    if tools.inception is not None:
        result["FID"] = tools.inception(targets, outputs)

    descriptors, found = [], []
    for output, pair in zip(outputs, pairs):
        try:
            descriptors.append(tools.identity.descriptor(output, pair.target_landmarks))
            found.append(True)
        except NoFaceError:
            found.append(False)
    if descriptors:
        probes = np.stack(descriptors)
        people = [p.person for p, ok in zip(pairs, found) if ok]
        distances = np.linalg.norm(probes[:, None] - tools.target_descriptors[None], axis=2)
        same = np.array([[p == q.person for q in pairs] for p in people])
        own = np.array([distances[k, j] for k, j in enumerate(np.flatnonzero(found))])
        result["identity_distance"] = float(own.mean())
        if (~same).any():
            result |= verification_rates(own, distances[~same])
            result["rank1"] = rank1(probes, people, tools.target_descriptors, [p.person for p in pairs])
    result["identity_found"] = float(np.mean(found))

    detected = [_detect_landmarks(tools.tracker, o) for o in outputs]
    ok = [d is not None for d in detected]
    if any(ok):
        error = landmark_error(
            np.stack([d for d in detected if d is not None]),
            np.stack([p.target_landmarks for p, k in zip(pairs, ok) if k]),
            size,
        )
        result["landmark_l2_px256"] = error.l2_px256
        result["landmark_nme"] = error.nme_interocular
    result["landmark_found"] = float(np.mean(ok))

    if tools.classifier is not None:
        labels = [label_index(p.label) for p in pairs]
        result["expression_accuracy"] = expression_accuracy(tools.classifier, outputs, labels, tools.classifier_size)
    if tools.judge is not None:
        rate = judge_recognition(tools.judge, tools.tracker, outputs, [p.label for p in pairs])
        if rate is not None:
            result["judge_recognition"] = rate
    return result


def _data_for_folder(config_path: str | None, data_kind: str | None, data_root: str | None, size: int) -> tuple[DataConfig, int]:
    if config_path:
        config = load_config(config_path)
        data, seed = config.data, config.schedule.seed
    elif data_root:
        data, seed = DataConfig(kind=data_kind or "london", root=data_root), 0
    else:
        raise EvaluationError("a model folder needs --config (experiment TOML) or --data-root to find held-out people")
    if data_root:
        data = dataclasses.replace(data, root=data_root)
    return dataclasses.replace(data, size=size), seed


def evaluate(
    model: str | Path,
    *,
    config_path: str | None = None,
    data_kind: str | None = None,
    data_root: str | None = None,
    backend: str = "onnxruntime",
    inception: str | None = None,
    classifier: str | None = None,
    classifier_size: int | None = None,
    limit: int | None = None,
) -> EvalReport:
    """Evaluate a checkpoint (.pt) or a model folder on the held-out people of its dataset."""
    path = Path(model)
    with tempfile.TemporaryDirectory(prefix="fes-eval-") as scratch:
        if path.is_file():
            state = load_checkpoint(path)
            folder = Path(scratch) / "model"
            export_checkpoint(path, folder, data_root=data_root)
            config = config_from_dict(state["config"])
            data, seed = config.data, config.schedule.seed
            if data_root:
                data = dataclasses.replace(data, root=data_root)
        else:
            folder = path
            manifest = load_manifest(folder)
            data, seed = _data_for_folder(config_path, data_kind, data_root, manifest.image_size)
        return _evaluate_folder(folder, str(model), data, seed, backend, inception, classifier, classifier_size, limit)


def _evaluate_folder(folder: Path, label: str, data: DataConfig, seed: int, backend: str, inception: str | None,
                     classifier: str | None, classifier_size: int | None, limit: int | None) -> EvalReport:
    manifest, _, auxiliary = load_exported(folder)
    pairs = eval_pairs(data, seed, data.eval_split, limit)
    if len(pairs) < 2:
        raise EvaluationError(f"only {len(pairs)} held-out pair(s); at least two are needed")
    notes: list[str] = []
    methods: dict[str, list[np.ndarray]] = {}
    outputs, stage1 = _run_model(folder, pairs, backend)
    methods[MODEL] = outputs
    methods[DO_NOTHING] = [p.source for p in pairs]
    methods[WARP_MESH] = _warp_outputs(pairs, None)
    if all(p.source_label == "neutral" for p in pairs):
        methods[WARP_TEMPLATE] = _warp_outputs(pairs, ExpressionTemplates.load())
    else:
        notes.append(f"{WARP_TEMPLATE} left out: it needs neutral sources ({data.pairing} pairs)")

    features = FeatureDistance()
    identity = DlibIdentity()
    targets = [p.target for p in pairs]
    net = None
    size = manifest.image_size
    if classifier:
        net, size = load_classifier(classifier), classifier_size or manifest.image_size
    elif "recognizer" in auxiliary:
        net = auxiliary["recognizer"]
        notes.append("expression_accuracy: the model's own recogniser (tergan_recognizer)")
    else:
        notes.append("expression_accuracy: no classifier given (--classifier) and the model has none")
    reference: dict[str, float] = {}
    with FaceTracker.create() as tracker:
        tools = _Tools(
            features=features,
            identity=identity,
            tracker=tracker,
            target_descriptors=np.stack([identity.descriptor(t, p.target_landmarks) for t, p in zip(targets, pairs)]),
            target_embeddings=features.embed(targets),
            classifier=net,
            classifier_size=size,
            inception=InceptionFid(inception) if inception else None,
            judge=ExpressionJudge(),
        )
        if inception is None:
            notes.append(f"FID needs Inception weights (--inception); {FMD_NAME} is the offline MobileNetV2 variant")
        scores = {name: score(images, pairs, tools) for name, images in methods.items()}
        if net is not None:
            reference["expression_accuracy"] = expression_accuracy(net, targets, [label_index(p.label) for p in pairs], size)
        real_rate = judge_recognition(tools.judge, tracker, targets, [p.label for p in pairs])
        if real_rate is not None:
            reference["judge_recognition"] = real_rate
        detected = [_detect_landmarks(tracker, t) for t in targets]
        found = [(d, p.target_landmarks) for d, p in zip(detected, pairs) if d is not None]
        if found:
            error = landmark_error(np.stack([d for d, _ in found]), np.stack([r for _, r in found]), manifest.image_size)
            reference["landmark_l2_px256"] = error.l2_px256
            reference["landmark_nme"] = error.nme_interocular
    if "removal" in auxiliary:
        scores[MODEL] |= removal_scores(folder, pairs, backend)
    if stage1 is not None:
        error = landmark_error(stage1, np.stack([p.target_landmarks for p in pairs]), manifest.image_size)
        scores[MODEL]["stage1_landmark_l2_px256"] = error.l2_px256
        scores[MODEL]["stage1_landmark_nme"] = error.nme_interocular
    return EvalReport(
        model=label,
        family=manifest.family,
        dataset=f"{data.kind} ({data.root}), {data.eval_split} people, {data.pairing}",
        people=len({p.person for p in pairs}),
        pairs=len(pairs),
        methods=scores,
        reference=reference,
        notes=tuple(notes),
    )
