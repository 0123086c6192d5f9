"""Warp-guided mode: pre-warped pairs from real photos, the refiner family trained on them, the
time-boxed schedule, and the exported refiner running in the engine."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from engine.face.tracker import FaceTracker, TrackerOptions
from engine.io import read_image
from engine.quality import ssim
from engine.synthesis.photo_generators import RenderRequest
from engine.synthesis.refiner import RefinerGenerator
from engine.synthesis.warp import warp_face
from tests.conftest import held_out_people, london_photo
from tests.training.conftest import write_config
from engine.geometry.labels import EXPRESSIONS
from training.config import load_config
from training.data.adapters import make_adapter
from training.data.prewarp import KEEP_LABELS, KINDS, PrewarpDataset, build_items, keep_labels_of
from training.export import export_checkpoint
from training.trainer import fit, pair_dataset


@pytest.fixture(scope="module")
def items(london_root, tmp_path_factory):
    samples = [s for s in make_adapter("london", london_root, {}).samples() if s.person in held_out_people()[:2]]
    return build_items(samples, london_root, 64, tmp_path_factory.mktemp("prewarp-cache"))


def test_every_person_gives_the_four_pair_kinds_with_real_and_exact_targets(items):
    assert len(items) == 8 and sorted(items.kind.tolist()) == [0, 0, 1, 1, 2, 2, 3, 3]
    for i in range(len(items)):
        kind = KINDS[items.kind[i]]
        # Warped inputs resemble their targets but are not copies of them (the model has work to do).
        assert ssim(items.warped[i], items.target[i]) > 0.5, kind
        assert not np.array_equal(items.warped[i], items.target[i]), kind
        assert items.exact[i] == (kind in ("reopen", "return"))
        assert (items.mesh[i] > 0).all() and (items.mesh[i] < 64).all()


def test_the_self_supervised_reopen_pair_is_aligned_to_the_pixel(items):
    # Outside the mouth the warped-shut-and-reopened smile is its own photo again.
    i = int(np.flatnonzero(items.kind == KINDS.index("reopen"))[0])
    diff = np.abs(items.warped[i].astype(int) - items.target[i].astype(int)).max(axis=2)
    assert np.median(diff) <= 2


def test_keep_pairs_warp_the_neutral_photo_to_non_smile_recipes_and_keep_the_warp_as_target(london_root, tmp_path):
    people = held_out_people()[:2]
    samples = [s for s in make_adapter("london", london_root, {}).samples() if s.person in people]
    items = build_items(samples, london_root, 64, tmp_path, keep=3)
    keep = np.flatnonzero(items.kind == KINDS.index("keep"))
    assert len(items) == 2 * (4 + 3) and len(keep) == 6
    plain = {i for i in range(len(items)) if items.kind[i] == KINDS.index("return")}
    for i in keep:
        assert np.array_equal(items.warped[i], items.target[i]) and items.exact[i]
        assert EXPRESSIONS[items.tgt_label[i]] in KEEP_LABELS
        # The warp moved the face: the input differs from the person's own neutral crop.
        same_person = next(j for j in plain if items.person[j] == items.person[i])
        assert (np.abs(items.warped[i].astype(int) - items.target[same_person].astype(int)).max(axis=2) > 20).sum() >= 10
    # Over the split every non-smile label and both strengths are drawn.
    drawn = [pick for p in range(6) for pick in keep_labels_of(p, 2)]
    assert {label for label, _ in drawn} == set(KEEP_LABELS) and {s for _, s in drawn} == {1.0, 1.5}


def test_the_dataset_jitters_input_target_and_geometry_together(items):
    data = PrewarpDataset(items, seed=3)
    item = data[0]
    assert item["src_image"].shape == (3, 64, 64) and item["guidance"].shape == (3, 64, 64)
    mouth = item["guidance"][0] > 0.5
    x0, y0, x1, y1 = item["mouth_box"].tolist()
    ys, xs = torch.nonzero(mouth, as_tuple=True)
    if len(ys):  # the mouth interior lies inside the mouth box after the same jitter
        assert x0 <= int(xs.min()) and int(xs.max()) < x1 and y0 <= int(ys.min()) and int(ys.max()) < y1


def test_a_short_prewarp_fit_lowers_the_refiners_error_and_exports_a_working_model(tmp_path, preprocess_cache):
    torch.manual_seed(0)
    path = write_config(tmp_path / "tiny.toml", "warpguided", preprocess_cache, size=64, steps=60, batch_size=4,
                        every=60, prewarp=True)
    config = load_config(path)
    batch = next(iter(torch.utils.data.DataLoader(pair_dataset(config, "dev"), batch_size=4)))
    first = fit(dataclasses.replace(config, schedule=dataclasses.replace(config.schedule, steps=1, checkpoint_every=1)),
                tmp_path / "first", progress=False)
    first.model.set_input(batch)
    start = first.model.reconstruction_loss()
    result = fit(config, tmp_path / "run", progress=False)
    result.model.set_input(batch)
    assert result.model.reconstruction_loss() < start

    folder = export_checkpoint(result.checkpoint, tmp_path / "model").folder
    image = read_image(london_photo(held_out_people()[3]))
    with FaceTracker.create(TrackerOptions(smoothing=None)) as tracker:
        face = tracker.detect(image).face
    gen = RefinerGenerator(folder, "onnxruntime", (image, face))
    dst = face.mesh.copy()
    dst[[14, 87, 178, 88, 95, 317, 402, 318, 324], 1] += 6.0  # open the lower lip
    out = gen.render(RenderRequest(image, face, dst))
    warped = warp_face(image, face.mesh, dst).image
    untouched = gen.last_mask == 0
    assert out.shape == image.shape and untouched.any()
    assert np.abs(out.astype(int) - warped.astype(int))[untouched].max() <= 1
    gen.close()


def test_init_from_starts_a_new_run_from_a_checkpoints_weights_with_fresh_optimisers(tmp_path, preprocess_cache):
    path = write_config(tmp_path / "tiny.toml", "warpguided", preprocess_cache, size=64, steps=2, batch_size=2,
                        every=2, prewarp=True)
    config = load_config(path)
    base = fit(config, tmp_path / "base", progress=False)
    saved = torch.load(base.checkpoint, weights_only=True)

    def one_step(init_from: str, folder: str):
        schedule = dataclasses.replace(config.schedule, steps=1, checkpoint_every=1, seed=7, init_from=init_from)
        result = fit(dataclasses.replace(config, schedule=schedule), tmp_path / folder, progress=False)
        base_weights = saved["networks"]["generator"]
        distance = max((p.detach().float() - base_weights[k].float()).abs().max().item()
                       for k, p in result.model.generator.named_parameters())
        return distance, torch.load(result.checkpoint, weights_only=True)

    tuned, tuned_state = one_step(str(base.checkpoint), "tuned")
    fresh, _ = one_step("", "fresh")
    # One step from the base weights stays near them; another seed's initial weights are far away.
    assert tuned < 0.1 * fresh
    # The optimisers start afresh: Adam has taken one step, not the base run's two plus one.
    adam = tuned_state["optimizers"]["generator"]["state"]
    assert {int(v["step"]) for v in adam.values()} == {1}
    assert tuned_state["step"] == 1


def test_max_minutes_stops_a_run_early_with_a_checkpoint(tmp_path, preprocess_cache):
    path = write_config(tmp_path / "tiny.toml", "warpguided", preprocess_cache, size=64, steps=1000, batch_size=2,
                        every=1000, prewarp=True)
    config = load_config(path)
    config = dataclasses.replace(config, schedule=dataclasses.replace(config.schedule, max_minutes=1e-4))
    result = fit(config, tmp_path / "run", progress=False)
    assert result.step < 1000
    assert result.checkpoint is not None and result.checkpoint.name == f"step_{result.step:08d}.pt"
