"""Pre-warped training pairs: the input is already mesh-warped to the target geometry (warp-guided mode).

For every person of the split with a neutral photo N and an expressive photo E (FaceMesh of each
found by ``engine.face`` on the full photo), these pairs are built once, at full photo resolution
with :func:`engine.synthesis.warp.warp_face`, and then aligned to N x N crops exactly as the
runtime aligns them (``engine.geometry.align`` on the driven geometry's 68 points):

    n2e      N warped onto E's own 478 points (mapped into N's frame by a similarity on the stable
             points); target E. Real expression texture to learn (teeth, creases), real data.
    e2n      E warped onto N's points; target N (the way back: close the mouth, smooth creases).
    reopen   E warped shut (onto N's points) and opened again to its own points: the warp paints its
             procedural interior where E's teeth were; target E itself, aligned to the pixel.
    return   N warped onto another person's expression motion and back: warp blur and a stretched
             lip line to undo; target N itself, aligned to the pixel.
    keep     (only when asked, ``keep_labels`` per person) N warped onto one of the engine's label
             recipes other than happy (surprise, fear, sad, anger, disgust, contempt) at intensity
             1.0 or 1.5; target: that warp itself. The London Set holds smiles only, so a refiner
             trained on the first four kinds paints smile teeth into every opened mouth (a pale blob
             in a surprised one); where no real texture of a label exists, this teaches it to leave
             the warp as it is. Geng et al. train on videos of every expression; these pairs are
             the nearest a smiles-only dataset allows.

Cross-photo pairs (n2e, e2n) differ outside the face (hair, background shift between photos), so
their loss weight there is 0 (``exact`` False); the self-supervised pairs are exact everywhere.
Flips, colour and small similarity jitter are applied per item (same to input and target).
Everything is cached in one ``.npz`` per (dataset, people, size, version) and held in memory.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

import engine
from engine.errors import InputError, NoFaceError
from engine.face.ibug68 import mesh_to_ibug68
from engine.geometry.align import align_face, transform_points
from engine.geometry.conditions import to_unit_range
from engine.geometry.expressions import ExpressionTemplates, expression_target
from engine.geometry.labels import EXPRESSIONS
from engine.synthesis.guidance import guidance_map, mouth_box, region_mask
from engine.synthesis.warp import warp_face
from training.data.adapters import Sample
from training.data.preprocess import default_cache_root
from training.protocol import stable_similarity

log = logging.getLogger(__name__)

PREWARP_VERSION = 1
KINDS = ("n2e", "e2n", "reopen", "return", "keep")
KEEP_LABELS = ("surprise", "fear", "sad", "anger", "disgust", "contempt")
KEEP_INTENSITIES = (1.0, 1.5)


@dataclass(frozen=True)
class PrewarpItems:
    """All pairs of a split as stacked arrays (M pairs, crop size N).

    warped, target: (M, N, N, 3) uint8 BGR; mesh: (M, 478, 2) float32 driven geometry in crop
    pixels; kind: (M,) indices into KINDS; exact: (M,) bool; person: (M,) str;
    src_label, tgt_label: (M,) indices into EXPRESSIONS.
    """

    warped: np.ndarray
    target: np.ndarray
    mesh: np.ndarray
    kind: np.ndarray
    exact: np.ndarray
    person: np.ndarray
    src_label: np.ndarray
    tgt_label: np.ndarray

    def __len__(self) -> int:
        return len(self.kind)


def _crop(image: np.ndarray, mesh: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(crop (N, N, 3) uint8, mesh (478, 2) in crop pixels), aligned by the mesh's 68 points."""
    crop = align_face(image, mesh_to_ibug68(mesh), size)
    return crop.image, transform_points(mesh, crop.matrix)


def pairs_of_person(neutral: tuple[np.ndarray, np.ndarray], expressive: tuple[np.ndarray, np.ndarray],
                    other_motion: np.ndarray, size: int) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """The four pair kinds for one person: [(kind, warped crop, target crop, driven mesh in crop)].

    neutral, expressive: (photo (H, W, 3) uint8, mesh (478, 2) pixels); other_motion: (478, 2) another
    person's expression displacement already scaled into this person's neutral photo.
    """
    n_img, n_mesh = neutral
    e_img, e_mesh = expressive
    e_in_n = transform_points(e_mesh, stable_similarity(e_mesh, n_mesh))
    n_in_e = transform_points(n_mesh, stable_similarity(n_mesh, e_mesh))
    out = []
    warped = warp_face(n_img, n_mesh, e_in_n).image
    w, m = _crop(warped, e_in_n, size)
    out.append(("n2e", w, _crop(e_img, e_mesh, size)[0], m))
    warped = warp_face(e_img, e_mesh, n_in_e).image
    w, m = _crop(warped, n_in_e, size)
    out.append(("e2n", w, _crop(n_img, n_mesh, size)[0], m))
    shut = warp_face(e_img, e_mesh, n_in_e).image
    reopened = warp_face(shut, n_in_e, e_mesh).image
    w, m = _crop(reopened, e_mesh, size)
    out.append(("reopen", w, _crop(e_img, e_mesh, size)[0], m))
    moved = n_mesh + other_motion
    there = warp_face(n_img, n_mesh, moved).image
    back = warp_face(there, moved, n_mesh).image
    w, m = _crop(back, n_mesh, size)
    out.append(("return", w, _crop(n_img, n_mesh, size)[0], m))
    return out


def keep_pairs(neutral: tuple[np.ndarray, np.ndarray], labels: list[tuple[str, float]], size: int,
               templates: ExpressionTemplates) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """'keep' pairs: [(label, warped crop, the same crop as target, driven mesh in crop)] for each
    (label, intensity) of ``labels`` applied to the neutral photo by the engine's recipes."""
    n_img, n_mesh = neutral
    out = []
    for label, intensity in labels:
        dst = expression_target(n_mesh, label, intensity, templates).astype(np.float64)
        w, m = _crop(warp_face(n_img, n_mesh, dst).image, dst, size)
        out.append((label, w, w.copy(), m))
    return out


def keep_labels_of(person_index: int, count: int) -> list[tuple[str, float]]:
    """The ``count`` (label, intensity) keep pairs of the ``person_index``-th person: labels taken
    round-robin over KEEP_LABELS and intensities alternating, so that every label and strength is
    drawn about equally often over the split."""
    picks = []
    for k in range(count):
        n = person_index * count + k
        picks.append((KEEP_LABELS[n % len(KEEP_LABELS)], KEEP_INTENSITIES[(n // len(KEEP_LABELS)) % len(KEEP_INTENSITIES)]))
    return picks


def _cache_file(root: str | Path, people: list[str], size: int, cache_root: str | Path | None, keep: int = 0) -> Path:
    resolved = Path(root).expanduser().resolve()
    extra = f"|keep{keep}" if keep else ""
    key = hashlib.sha1(
        f"{resolved}|{','.join(people)}|{size}|{engine.__version__}|{PREWARP_VERSION}{extra}".encode()
    ).hexdigest()[:16]
    return Path(cache_root or default_cache_root()) / f"prewarp-{resolved.name}-{size}-{key}.npz"


def build_items(samples: list[Sample], root: str | Path, size: int, cache_root: str | Path | None = None,
                keep: int = 0) -> PrewarpItems:
    """All pairs for the people of ``samples`` (each needs a neutral and an expressive photo), cached;
    ``keep`` 'keep' pairs per person besides the four kinds.

    People without both photos, or whose photos have no usable face, are left out (logged).
    """
    from engine.face.tracker import FaceTracker, TrackerOptions
    from engine.io.images import read_image

    by_person: dict[str, dict[str, Sample]] = {}
    for sample in samples:
        slot = "neutral" if sample.expression == "neutral" else "expressive"
        by_person.setdefault(sample.person, {}).setdefault(slot, sample)
    people = sorted(p for p, s in by_person.items() if len(s) == 2)
    path = _cache_file(root, people, size, cache_root, keep)
    if path.is_file():
        with np.load(path, allow_pickle=False) as data:
            return PrewarpItems(**{k: data[k] for k in data.files})
    faces: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    with FaceTracker.create(TrackerOptions(smoothing=None)) as tracker:
        for person in people:
            try:
                got = {}
                for slot, sample in by_person[person].items():
                    image = read_image(sample.path)
                    got[slot] = (image, tracker.detect(image).face.mesh.astype(np.float64))
                faces[person] = got
            except (NoFaceError, InputError) as exc:
                log.warning("prewarp: %s left out (%s)", person, exc)
    kept = sorted(faces)
    templates = ExpressionTemplates.load()
    rows: dict[str, list] = {k: [] for k in ("warped", "target", "mesh", "kind", "exact", "person", "src_label", "tgt_label")}

    def add(kind: str, warped: np.ndarray, target: np.ndarray, mesh: np.ndarray, person: str, src: int, tgt: int) -> None:
        for key, value in (("warped", warped), ("target", target), ("mesh", mesh.astype(np.float32)),
                           ("kind", KINDS.index(kind)), ("exact", kind in ("reopen", "return", "keep")),
                           ("person", person), ("src_label", src), ("tgt_label", tgt)):
            rows[key].append(value)

    for i, person in enumerate(kept):
        n_img, n_mesh = faces[person]["neutral"]
        e_img, e_mesh = faces[person]["expressive"]
        donor = faces[kept[(i + 1) % len(kept)]]
        motion = _motion_into(donor["neutral"][1], donor["expressive"][1], n_mesh)
        label = EXPRESSIONS.index(by_person[person]["expressive"].expression)
        for kind, warped, target, mesh in pairs_of_person((n_img, n_mesh), (e_img, e_mesh), motion, size):
            src, tgt = {"n2e": (0, label), "e2n": (label, 0), "reopen": (label, label), "return": (0, 0)}[kind]
            add(kind, warped, target, mesh, person, src, tgt)
        for name, warped, target, mesh in keep_pairs((n_img, n_mesh), keep_labels_of(i, keep), size, templates):
            add("keep", warped, target, mesh, person, 0, EXPRESSIONS.index(name))
    items = PrewarpItems(**{k: np.stack(v) if k in ("warped", "target", "mesh") else np.asarray(v) for k, v in rows.items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.stem}.tmp.npz")
    np.savez(temp, **{k: getattr(items, k) for k in rows})
    temp.replace(path)
    log.info("prewarp: %d pairs of %d people at %d px cached in %s", len(items), len(kept), size, path)
    return items


def _motion_into(donor_neutral: np.ndarray, donor_expressive: np.ndarray, neutral: np.ndarray) -> np.ndarray:
    """(478, 2) the donor's expression displacement, pose removed, scaled into ``neutral``'s frame."""
    m = stable_similarity(donor_expressive, donor_neutral)
    moved = transform_points(donor_expressive, m).astype(np.float64) - donor_neutral
    to_target = stable_similarity(donor_neutral, neutral)
    return moved @ to_target[:, :2].T


@dataclass(frozen=True)
class Jitter:
    """Per-item augmentation (the same to input and target): flip with probability ``flip``;
    scale 1 +- ``scale``, rotation +- ``degrees``, shift +- ``shift`` of N; colour gain 1 +- ``gain``
    per channel and gamma 1 +- ``gamma``."""

    flip: float = 0.5
    scale: float = 0.05
    degrees: float = 5.0
    shift: float = 0.02
    gain: float = 0.08
    gamma: float = 0.15


class PrewarpDataset(Dataset):
    """Pre-warped pairs as training/base.py's batch dict, plus ``guidance`` (B, 3, N, N) [0, 1],
    ``region`` (B, 1, N, N) [0, 1] (where the loss counts), ``mouth_box`` (B, 4) int64 and
    ``tgt_mesh`` (B, 478, 2). ``src_image`` is the warped input; ``other_image`` another person's
    target crop of the same label (paper 3's pairs)."""

    def __init__(self, items: PrewarpItems, seed: int, jitter: Jitter | None = Jitter()) -> None:
        self.items = items
        self.seed = seed
        self.jitter = jitter
        self.epoch = 0
        self.people = sorted(set(items.person.tolist()))
        self._person_index = {p: i for i, p in enumerate(self.people)}
        self._by_label: dict[int, np.ndarray] = {
            int(label): np.flatnonzero(items.tgt_label == label) for label in np.unique(items.tgt_label)
        }

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.items)

    def _rng(self, i: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, i])

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        it = self.items
        size = it.warped.shape[1]
        rng = self._rng(i)
        warped, target, mesh = it.warped[i], it.target[i], it.mesh[i].astype(np.float64)
        others = self._by_label[int(it.tgt_label[i])]
        others = others[it.person[others] != it.person[i]]
        o = int(others[rng.integers(len(others))]) if len(others) else i
        other = it.target[o]
        if self.jitter is not None:
            warped, target, other, mesh = _augment(rng, self.jitter, warped, target, other, mesh, size)
        region = region_mask(mesh, size)
        if it.exact[i]:
            region = np.ones_like(region)
        landmarks = mesh_to_ibug68(mesh).astype(np.float32)
        return {
            "src_image": torch.from_numpy(to_unit_range(warped)),
            "tgt_image": torch.from_numpy(to_unit_range(target)),
            "other_image": torch.from_numpy(to_unit_range(other)),
            "guidance": torch.from_numpy(np.ascontiguousarray(guidance_map(mesh, size).transpose(2, 0, 1))),
            "region": torch.from_numpy(region[None]),
            "mouth_box": torch.tensor(mouth_box(mesh, size), dtype=torch.int64),
            "tgt_mesh": torch.from_numpy(mesh.astype(np.float32)),
            "src_landmarks": torch.from_numpy(landmarks),
            "tgt_landmarks": torch.from_numpy(landmarks.copy()),
            "src_label": torch.tensor(int(it.src_label[i]), dtype=torch.int64),
            "tgt_label": torch.tensor(int(it.tgt_label[i]), dtype=torch.int64),
            "tgt_intensity": torch.tensor(1.0, dtype=torch.float32),
            "person": torch.tensor(self._person_index[str(it.person[i])], dtype=torch.int64),
            "other_person": torch.tensor(self._person_index[str(it.person[o])], dtype=torch.int64),
        }


def _augment(rng: np.random.Generator, j: Jitter, warped: np.ndarray, target: np.ndarray, other: np.ndarray,
             mesh: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The same random flip, similarity and colour change applied to every crop and the mesh."""
    if rng.random() < j.flip:
        warped, target, other = (np.ascontiguousarray(a[:, ::-1]) for a in (warped, target, other))
        mesh = mesh.copy()
        mesh[:, 0] = size - 1 - mesh[:, 0]
    scale = 1.0 + rng.uniform(-j.scale, j.scale)
    angle = rng.uniform(-j.degrees, j.degrees)
    shift = rng.uniform(-j.shift, j.shift, 2) * size
    m = cv2.getRotationMatrix2D((size / 2, size / 2), angle, scale)
    m[:, 2] += shift
    warped, target, other = (
        cv2.warpAffine(a, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        for a in (warped, target, other)
    )
    mesh = mesh @ m[:, :2].T + m[:, 2]
    gain = 1.0 + rng.uniform(-j.gain, j.gain, 3)
    gamma = 1.0 + rng.uniform(-j.gamma, j.gamma)
    lut = np.stack([np.clip(255.0 * (np.arange(256) / 255.0) ** gamma * g, 0, 255) for g in gain], axis=1)
    lut = lut.astype(np.uint8)
    warped, target, other = (cv2.LUT(a, lut[None]) for a in (warped, target, other))
    return warped, target, other, mesh
