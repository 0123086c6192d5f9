"""Pairs of photos of one person, person-level splits, and the torch Dataset of training batches.

A pair is (source, target): the generator sees the source photo and the target's conditions
(landmarks, label, intensity) and is scored against the target photo. Splits are always by person,
never by photo, so held-out people are never seen in training.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

import resources

from engine.geometry.conditions import to_unit_range
from engine.geometry.labels import EXPRESSIONS
from training.data.adapters import DataError
from training.data.preprocess import Prepared

log = logging.getLogger(__name__)

PAIRINGS = ("neutral_to_expression", "expression_to_neutral", "any_to_any")
SPLITS = ("dev", "held_out", "all")
LONDON_SPLIT = resources.ROOT / "splits" / "london.json"

# iBUG 68-point index of each point's mirror image (jaw, brows, nose, eyes, mouth).
MIRROR68 = np.array(
    list(range(16, -1, -1))
    + list(range(26, 16, -1))
    + [27, 28, 29, 30]
    + [35, 34, 33, 32, 31]
    + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]
    + [64, 63, 62, 61, 60, 67, 66, 65]
)


@dataclass(frozen=True)
class PersonSplit:
    dev: frozenset[str]
    held_out: frozenset[str]

    def people(self, which: str) -> frozenset[str]:
        if which == "dev":
            return self.dev
        if which == "held_out":
            return self.held_out
        if which == "all":
            return self.dev | self.held_out
        raise DataError(f"unknown split {which!r}; use one of {', '.join(SPLITS)}")


def load_split_file(path: str | Path) -> PersonSplit:
    """A JSON object with ``dev`` and ``held_out`` lists of person ids (resources/splits/*.json)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        split = PersonSplit(dev=frozenset(map(str, data["dev"])), held_out=frozenset(map(str, data["held_out"])))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{path}: not a split file with dev and held_out lists ({exc})") from exc
    if split.dev & split.held_out:
        raise DataError(f"{path}: people in both dev and held_out: {sorted(split.dev & split.held_out)}")
    return split


def hash_split(people: set[str] | frozenset[str], held_out_fraction: float, seed: int) -> PersonSplit:
    """Deterministic person split: a person is held out when sha256(seed:person) falls below the fraction."""
    if not 0.0 < held_out_fraction < 1.0:
        raise DataError(f"held_out_fraction {held_out_fraction} must be between 0 and 1")

    def unit(person: str) -> float:
        digest = hashlib.sha256(f"{seed}:{person}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2.0**64

    held = frozenset(p for p in people if unit(p) < held_out_fraction)
    return PersonSplit(dev=frozenset(people) - held, held_out=held)


def person_split(
    kind: str, people: set[str], split_file: str | Path | None, held_out_fraction: float, seed: int
) -> PersonSplit:
    """The London set uses resources/splits/london.json; other sets a split file or a seeded hash split."""
    if split_file:
        split = load_split_file(split_file)
    elif kind == "london":
        split = load_split_file(LONDON_SPLIT)
    else:
        return hash_split(people, held_out_fraction, seed)
    unlisted = set(people) - split.dev - split.held_out
    if unlisted:
        raise DataError(f"people missing from the split file: {sorted(unlisted)}")
    return split


def make_pairs(items: list[Prepared], pairing: str) -> list[tuple[int, int]]:
    """(source index, target index) pairs of distinct photos of the same person.

    neutral_to_expression: neutral source, expressive target; expression_to_neutral: the reverse;
    any_to_any: every ordered pair of distinct photos. When the target belongs to a sequence (CK+,
    Oulu-CASIA, a KDEF session) and the person has eligible sources in that same sequence, only
    those are used, so pose and lighting match.
    """
    if pairing not in PAIRINGS:
        raise DataError(f"unknown pairing {pairing!r}; use one of {', '.join(PAIRINGS)}")
    by_person: dict[str, list[int]] = {}
    for index, item in enumerate(items):
        by_person.setdefault(item.sample.person, []).append(index)

    def eligible(src: Prepared, tgt: Prepared) -> bool:
        neutral_src, neutral_tgt = src.sample.expression == "neutral", tgt.sample.expression == "neutral"
        if pairing == "neutral_to_expression":
            return neutral_src and not neutral_tgt
        if pairing == "expression_to_neutral":
            return neutral_tgt and not neutral_src
        return True

    pairs: list[tuple[int, int]] = []
    for indices in by_person.values():
        for t in indices:
            sources = [s for s in indices if s != t and eligible(items[s], items[t])]
            same_sequence = [s for s in sources if items[t].sample.sequence and items[s].sample.sequence == items[t].sample.sequence]
            pairs += [(s, t) for s in (same_sequence or sources)]
    if not pairs:
        raise DataError(f"no {pairing} pairs: no person has photos of the needed expressions")
    return pairs


def first_source_per_target(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Keep one pair per target photo (its first source), so each photo counts once."""
    chosen: dict[int, int] = {}
    for s, t in pairs:
        chosen.setdefault(t, s)
    return [(s, t) for t, s in chosen.items()]


def _mirror(image: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    flipped = landmarks[MIRROR68].copy()
    flipped[:, 0] = image.shape[1] - 1 - flipped[:, 0]
    return np.ascontiguousarray(image[:, ::-1]), flipped


class PairDataset(Dataset):
    """Training pairs as the batch dict of training/base.py (one item; the DataLoader stacks them).

    Every item also carries ``other_image`` / ``other_person``: a different person of the split
    showing the target's expression (paper 3), drawn deterministically from (seed, epoch, index).
    With ``flip`` the whole item is mirrored with probability 1/2 (paper 2, section 4.1).
    """

    def __init__(self, items: list[Prepared], pairs: list[tuple[int, int]], seed: int, flip: bool = False) -> None:
        self.items = items
        self.pairs = pairs
        self.seed = seed
        self.flip = flip
        self.epoch = 0
        self.people = sorted({item.sample.person for item in items})
        self._person_index = {person: i for i, person in enumerate(self.people)}
        self._by_label: dict[str, list[int]] = {}
        for index, item in enumerate(items):
            self._by_label.setdefault(item.sample.expression, []).append(index)
        for _, t in pairs:
            label = items[t].sample.expression
            if not any(items[i].sample.person != items[t].sample.person for i in self._by_label[label]):
                raise DataError(f"other_image needs a second person showing {label!r}; this split has one")

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.pairs)

    def other_index(self, i: int) -> int:
        """The index in ``items`` of pair ``i``'s other person showing the target expression (this epoch)."""
        t = self.pairs[i][1]
        person, label = self.items[t].sample.person, self.items[t].sample.expression
        others = [j for j in self._by_label[label] if self.items[j].sample.person != person]
        return others[int(self._rng(i, 0).integers(len(others)))]

    def _rng(self, i: int, stream: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, i, stream])

    def _view(self, index: int, flip: bool) -> tuple[torch.Tensor, np.ndarray]:
        item = self.items[index]
        image, landmarks = (_mirror(item.image, item.landmarks) if flip else (item.image, item.landmarks))
        return torch.from_numpy(to_unit_range(image)), landmarks.astype(np.float32)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        s, t = self.pairs[i]
        src, tgt = self.items[s], self.items[t]
        o = self.other_index(i)
        flip = bool(self.flip and self._rng(i, 1).random() < 0.5)
        src_image, src_landmarks = self._view(s, flip)
        tgt_image, tgt_landmarks = self._view(t, flip)
        other_image, _ = self._view(o, flip)
        intensity = tgt.sample.intensity
        return {
            "src_image": src_image,
            "tgt_image": tgt_image,
            "src_landmarks": torch.from_numpy(src_landmarks),
            "tgt_landmarks": torch.from_numpy(tgt_landmarks),
            "src_label": torch.tensor(EXPRESSIONS.index(src.sample.expression), dtype=torch.int64),
            "tgt_label": torch.tensor(EXPRESSIONS.index(tgt.sample.expression), dtype=torch.int64),
            "tgt_intensity": torch.tensor(1.0 if intensity is None else intensity, dtype=torch.float32),
            "person": torch.tensor(self._person_index[tgt.sample.person], dtype=torch.int64),
            "other_image": other_image,
            "other_person": torch.tensor(self._person_index[self.items[o].sample.person], dtype=torch.int64),
        }
