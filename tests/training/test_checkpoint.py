"""Checkpoints: clear errors for damaged files, and a resumed run that continues where it stopped."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest
import torch

from training.config import load_config
from training.trainer import CheckpointError, checkpoints, fit, load_checkpoint, model_from_checkpoint
from tests.training.conftest import write_config


@pytest.fixture(scope="module")
def tiny_lgan(tmp_path_factory, preprocess_cache):
    folder = tmp_path_factory.mktemp("lgan")
    return load_config(write_config(folder / "tiny.toml", "lgan", preprocess_cache, steps=4))


@pytest.fixture(scope="module")
def two_step_run(tmp_path_factory, tiny_lgan):
    run = tmp_path_factory.mktemp("two-steps") / "run"
    short = dataclasses.replace(tiny_lgan, schedule=dataclasses.replace(tiny_lgan.schedule, steps=2))
    result = fit(short, run, progress=False)
    assert result.step == 2 and result.checkpoint == run / "checkpoints" / "step_00000002.pt"
    return run


def test_damaged_checkpoints_name_the_file(tmp_path, two_step_run):
    good = two_step_run / "checkpoints" / "step_00000002.pt"
    data = good.read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"truncated\.pt: corrupt or truncated checkpoint"):
        load_checkpoint(truncated)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(bytes(range(256)) * 64)
    with pytest.raises(CheckpointError, match=r"garbage\.pt: corrupt or truncated checkpoint"):
        load_checkpoint(garbage)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(CheckpointError, match=r"foreign\.pt: not a fes-train checkpoint"):
        load_checkpoint(foreign)
    with pytest.raises(CheckpointError, match=r"missing\.pt: checkpoint not found"):
        load_checkpoint(tmp_path / "missing.pt")


def test_checkpoint_rebuilds_its_model_alone(two_step_run, tiny_lgan):
    model, config, state = model_from_checkpoint(two_step_run / "checkpoints" / "step_00000002.pt")
    assert state["step"] == 2 and state["generator"] == "generator"
    assert config.architecture == tiny_lgan.architecture and state["architecture"]["ngf"] == 8
    saved = state["networks"]["generator"]
    assert all(torch.equal(v, saved[k]) for k, v in model.generator.state_dict().items())


def test_resume_continues_the_step_count(tmp_path, two_step_run, tiny_lgan):
    resumed_dir = tmp_path / "resumed"
    shutil.copytree(two_step_run, resumed_dir)
    result = fit(tiny_lgan, resumed_dir, progress=False)
    assert result.step == 4
    assert [step for step, _ in checkpoints(resumed_dir / "checkpoints")] == [2, 3, 4]  # keep_checkpoints = 3
    logged = [json.loads(line)["step"] for line in (resumed_dir / "metrics.jsonl").read_text().splitlines()]
    assert logged == [1, 2, 3, 4]
    assert sorted(p.name for p in (resumed_dir / "samples").iterdir())[-1] == "step_00000004.png"

    straight = fit(tiny_lgan, tmp_path / "straight", progress=False)
    a = load_checkpoint(result.checkpoint)["networks"]["generator"]
    b = load_checkpoint(straight.checkpoint)["networks"]["generator"]
    assert all(torch.equal(a[k], b[k]) for k in a), "a resumed run repeats the uninterrupted one"


def test_resume_from_a_damaged_checkpoint_fails_clearly(tmp_path, two_step_run, tiny_lgan):
    run = tmp_path / "damaged"
    shutil.copytree(two_step_run, run)
    latest = run / "checkpoints" / "step_00000002.pt"
    latest.write_bytes(latest.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="step_00000002.pt"):
        fit(tiny_lgan, run, progress=False)


def test_decay_lowers_the_learning_rate_linearly_and_survives_resume(tmp_path, two_step_run, tiny_lgan):
    decayed = dataclasses.replace(tiny_lgan, schedule=dataclasses.replace(tiny_lgan.schedule, decay_from=2))
    resumed_dir = tmp_path / "resumed"
    shutil.copytree(two_step_run, resumed_dir)
    result = fit(decayed, resumed_dir, progress=False)
    initial = tiny_lgan.loss.lr
    # Step index 3 (the 4th and last) ran at (4 - 3) / (4 - 2) of the initial rate.
    for optimiser in result.model.optimizers().values():
        assert [g["lr"] for g in optimiser.param_groups] == pytest.approx([0.5 * initial] * len(optimiser.param_groups))
        assert all(g["initial_lr"] == pytest.approx(initial) for g in optimiser.param_groups)
