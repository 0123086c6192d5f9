"""Person-level splits, pairing and the batch dict the families train on."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import resources
from engine.geometry.labels import EXPRESSIONS
from training.data.adapters import DataError, Sample, make_adapter
from training.data.pairs import MIRROR68, PairDataset, hash_split, make_pairs, person_split
from training.data.preprocess import Prepared, preprocess


@pytest.fixture(scope="module")
def dev_items(london_root, preprocess_cache):
    samples = [s for s in make_adapter("london", london_root).samples() if s.person in {"001", "002", "005"}]
    items, report = preprocess(samples, london_root, 32, preprocess_cache)
    assert not report.skipped
    return items


def test_london_split_is_the_shipped_file(london_root):
    people = {s.person for s in make_adapter("london", london_root).samples()}
    split = person_split("london", people, None, 0.2, seed=0)
    shipped = json.loads((resources.ROOT / "splits" / "london.json").read_text())
    assert split.held_out == frozenset(shipped["held_out"])
    assert split.dev == frozenset(shipped["dev"]) and people - split.held_out <= split.dev
    assert not split.dev & split.held_out


def test_hash_split_is_by_person_deterministic_and_seeded():
    people = {f"P{i:03d}" for i in range(200)}
    a, b = hash_split(people, 0.25, seed=3), hash_split(people, 0.25, seed=3)
    assert a == b and not a.dev & a.held_out and a.dev | a.held_out == people
    assert 30 < len(a.held_out) < 70
    assert hash_split(people, 0.25, seed=4).held_out != a.held_out
    with pytest.raises(DataError):
        hash_split(people, 1.5, seed=0)


def test_split_file_must_list_everyone(tmp_path):
    path = tmp_path / "split.json"
    path.write_text(json.dumps({"dev": ["a"], "held_out": ["b"]}))
    assert person_split("rafd", {"a", "b"}, path, 0.2, 0).held_out == {"b"}
    with pytest.raises(DataError, match="missing from the split file"):
        person_split("rafd", {"a", "b", "c"}, path, 0.2, 0)


def _fake_item(person, expression, sequence=None):
    return Prepared(Sample(path=Path(f"{person}-{expression}-{sequence}.jpg"), person=person,
                           expression=expression, sequence=sequence), np.zeros((4, 4, 3), np.uint8),
                    np.zeros((68, 2), np.float32), np.zeros((478, 3), np.float32))


def test_pairing_modes_and_sequences():
    items = [_fake_item("a", "neutral", "s1"), _fake_item("a", "happy", "s1"), _fake_item("a", "neutral", "s2"),
             _fake_item("a", "sad", "s2"), _fake_item("b", "neutral"), _fake_item("b", "happy")]
    assert sorted(make_pairs(items, "neutral_to_expression")) == [(0, 1), (2, 3), (4, 5)]
    assert sorted(make_pairs(items, "expression_to_neutral")) == [(1, 0), (3, 2), (5, 4)]
    any_pairs = make_pairs(items, "any_to_any")
    assert all(items[s].sample.person == items[t].sample.person and s != t for s, t in any_pairs)
    with pytest.raises(DataError, match="unknown pairing"):
        make_pairs(items, "random")


def test_batch_dict(dev_items):
    pairs = make_pairs(dev_items, "neutral_to_expression")
    dataset = PairDataset(dev_items, pairs, seed=0)
    item = dataset[0]
    assert item["src_image"].shape == (3, 32, 32) and item["src_image"].dtype == torch.float32
    assert -1.0 <= float(item["src_image"].min()) and float(item["src_image"].max()) <= 1.0
    assert item["tgt_landmarks"].shape == (68, 2)
    assert int(item["src_label"]) == EXPRESSIONS.index("neutral") and int(item["tgt_label"]) == EXPRESSIONS.index("happy")
    assert float(item["tgt_intensity"]) == 1.0
    assert int(item["other_person"]) != int(item["person"])
    batch = torch.utils.data.default_collate([dataset[i] for i in range(len(dataset))])
    assert batch["other_image"].shape == (3, 3, 32, 32)


def test_flip_mirrors_images_and_landmarks(dev_items):
    pairs = make_pairs(dev_items, "neutral_to_expression")
    plain = PairDataset(dev_items, pairs, seed=0)
    flipping = PairDataset(dev_items, pairs, seed=0, flip=True)
    flipped = None
    for epoch in range(20):
        flipping.set_epoch(epoch)
        if not torch.equal(flipping[0]["src_image"], plain[0]["src_image"]):
            flipped = flipping[0]
            break
    assert flipped is not None
    a = plain[0]
    assert torch.equal(flipped["src_image"], a["src_image"].flip(-1))
    mirrored = a["tgt_landmarks"][MIRROR68]
    assert torch.allclose(flipped["tgt_landmarks"][:, 0], 31 - mirrored[:, 0]) and torch.equal(flipped["tgt_landmarks"][:, 1], mirrored[:, 1])
    # the subject's right eye stays left of the left eye in the crop
    assert float(flipped["tgt_landmarks"][36, 0]) < float(flipped["tgt_landmarks"][45, 0])
