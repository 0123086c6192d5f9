"""Data-parallel training (training.distributed): real two-process Gloo runs on the CPU, as
``torchrun --nproc-per-node 2`` launches them, against one process with the doubled batch.

Two workers are spawned once for the module. Each takes two training steps of every family in
float64 on its half of fixed batches of 4 (networks in DistributedDataParallel, synced batch norms),
then runs the real trainer (``fit``) on a tiny lgan config with 2 pairs per process. This process
repeats both with the whole batch in one process, where nothing is wrapped.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from engine.nets.registry import get_family
from tests.training.conftest import write_config
from training.base import FeatureNets, TrainingModel, training_model_cls
from training.config import load_config
from training.distributed import DistContext, Replicas, init_distributed
from training.export import export_checkpoint
from training.trainer import fit, load_checkpoint, model_from_checkpoint

WORLD = 2
PER_PROCESS = 2  # schedule.batch_size of the two-process run; the one-process run takes WORLD x this
STEPS = 3
NO_DROPOUT = {"dropout": 0.0}  # dropout draws from each process's own seed, a one-process run cannot repeat it

# One Adam step moves a weight by about lr = 2e-4 (LganLoss). In float32 the two runs add the same
# numbers in another order (two half batches, then an all-reduce), so a few activations that sit on
# a leaky-ReLU kink land on its other side and change some gradients by about 1 %; Adam's first
# steps move each weight by about lr x sign(gradient), so a weight whose gradient is near zero may
# end up to 2 x lr x steps away. The largest difference is therefore no measure in float32; the mean
# over all weights is: 1 % of one step here (measured 2.2e-7), against 2e-4 for one process trained
# on the per-process batch alone. The float64 steps show that the arithmetic itself is the same.
MEAN_TOLERANCE = 2e-6
FLOAT64_TOLERANCE = 1e-10

# family -> (image size, architecture, loss) of the float64 steps; both TER-GAN stages run, and its
# random augmentation and batch-dependent cross-identity pairing are off.
FLOAT64_FAMILIES: dict[str, tuple[int, dict[str, object], dict[str, object]]] = {
    "lgan": (32, {"ngf": 8, "n_blocks": 1, **NO_DROPOUT}, {}),
    "g2gan": (32, {"ngf": 8, **NO_DROPOUT}, {}),
    "unet_cgan": (32, {"ngf": 8, **NO_DROPOUT}, {}),
    "tergan": (32, {"encoder_channels": (8, 8, 16, 16, 16), "decoder_channels": (16, 16, 8, 8)},
               {"pretrain_steps": 1, "augment": False, "cross_identity": False, "n_identities": 8}),
    "landmarkgan": (32, {"ngf": 8, "image_embedding": 32, "label_embedding": 8}, {"ndf": 8, "landmark_d_width": 16}),
    "warpguided": (64, {"ngf": 8, "num_downs": 6}, {"ndf": 8, "autocast": False}),
}
RANDOM_STEP = {"landmarkgan"}  # draws its z noise per process: the same on both ranks, not the one-process run's


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _weights(model: TrainingModel) -> dict[str, torch.Tensor]:
    """Every network's state dict (parameters and buffers), keyed ``network.entry``."""
    return {f"{name}.{key}": value.detach().clone()
            for name, net in model.networks().items() for key, value in net.state_dict().items()}


def _batch(step: int, size: int, n: int = 4) -> dict[str, torch.Tensor]:
    """A fixed batch with every key a family reads: float64 (n, 3, size, size) images in [-1, 1],
    (n, 68, 2) landmarks in crop pixels, labels, people, warp guidance and mouth boxes."""
    g = torch.Generator().manual_seed(step)

    def uniform(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=g, dtype=torch.float64)

    q = size // 4
    return {
        "src_image": uniform(n, 3, size, size) * 2 - 1,
        "tgt_image": uniform(n, 3, size, size) * 2 - 1,
        "other_image": uniform(n, 3, size, size) * 2 - 1,
        "src_landmarks": size * (0.2 + 0.6 * uniform(n, 68, 2)),
        "tgt_landmarks": size * (0.2 + 0.6 * uniform(n, 68, 2)),
        "src_label": torch.zeros(n, dtype=torch.int64),
        "tgt_label": torch.tensor([1, 2, 1, 3][:n]),
        "tgt_intensity": torch.ones(n, dtype=torch.float64),
        "person": torch.arange(n),
        "other_person": (torch.arange(n) + 1) % n,
        "guidance": uniform(n, 3, size, size),
        "region": torch.ones(n, 1, size, size, dtype=torch.float64),
        "mouth_box": torch.tensor([[q, 2 * q, 3 * q, 3 * q + q // 2]] * n),
    }


def float64_steps(family: str, ctx: DistContext | None = None) -> dict[str, torch.Tensor]:
    """Two training steps of ``family`` in float64 on this process's share of two fixed batches of 4
    (all of them without ``ctx``); returns the weights."""
    size, architecture, loss = FLOAT64_FAMILIES[family]
    cls = training_model_cls(family)
    torch.manual_seed(0)
    model = cls(get_family(family).config_cls(image_size=size, **architecture), cls.loss_config_cls()(**loss),
                FeatureNets(), torch.device("cpu"))
    for net in model.networks().values():
        net.double().train()
    rank, world = (ctx.rank, ctx.world) if ctx is not None else (0, 1)
    replicas = Replicas(model, ctx) if ctx is not None else None
    for step in range(2):
        model.set_input({key: value[rank::world] for key, value in _batch(step, size).items()})
        for name, value in list(vars(model).items()):  # what set_input built (heatmaps, label maps) in float64 too
            if isinstance(value, torch.Tensor) and value.dtype == torch.float32:
                setattr(model, name, value.double())
        model.optimize_parameters()
    if replicas is not None:
        replicas.close()
    return _weights(model)


def _worker(rank: int, port: int, config_path: str, run_dir: str, out: str) -> None:
    """One torchrun-like process: the float64 steps of every family, then ``fit``; saves its weights."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(WORLD),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    import torch.distributed as dist

    ctx = init_distributed("cpu")
    exact = {family: float64_steps(family, ctx) for family in FLOAT64_FAMILIES}
    result = fit(load_config(config_path), run_dir, progress=False)
    torch.save({"float64": exact, "fit": _weights(result.model)}, Path(out) / f"rank{rank}.pt")
    record = {"step": result.step, "backend": dist.get_backend(),
              "checkpoint": str(result.checkpoint) if result.checkpoint else None}
    (Path(out) / f"rank{rank}.json").write_text(json.dumps(record))
    dist.destroy_process_group()


@dataclass(frozen=True)
class Runs:
    """folder; per rank: saved weights ({"float64": family -> weights, "fit": weights}) and a record
    (step, backend, checkpoint); the one-process fits ("doubled", "per_process") and float64 steps."""

    folder: Path
    ranks: list[dict[str, dict]]
    records: list[dict[str, object]]
    one_process: dict[str, dict[str, torch.Tensor]]
    one_process_float64: dict[str, dict[str, torch.Tensor]]


def _config(folder: Path, name: str, cache: Path, batch_size: int) -> Path:
    return write_config(folder / f"{name}.toml", "lgan", cache, steps=STEPS, batch_size=batch_size, every=STEPS,
                        architecture=NO_DROPOUT)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, preprocess_cache: Path) -> Runs:
    folder = tmp_path_factory.mktemp("ddp")
    config = _config(folder, "two", preprocess_cache, PER_PROCESS)
    mp.spawn(_worker, args=(_free_port(), str(config), str(folder / "two"), str(folder)), nprocs=WORLD, join=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        one_process = {
            name: _weights(fit(load_config(_config(folder, name, preprocess_cache, batch)), folder / name,
                               progress=False).model)
            for name, batch in (("doubled", WORLD * PER_PROCESS), ("per_process", PER_PROCESS))
        }
        exact = {family: float64_steps(family) for family in FLOAT64_FAMILIES}
    finally:
        torch.set_num_threads(threads)
    return Runs(folder=folder,
                ranks=[torch.load(folder / f"rank{r}.pt", weights_only=True) for r in range(WORLD)],
                records=[json.loads((folder / f"rank{r}.json").read_text()) for r in range(WORLD)],
                one_process=one_process, one_process_float64=exact)


def _mean_abs_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    keys = [k for k in a if a[k].is_floating_point()]
    return float(torch.cat([(a[k].double() - b[k].double()).abs().flatten() for k in keys]).mean())


def _max_abs_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a if a[k].is_floating_point())


def test_both_processes_end_with_bitwise_identical_weights(runs: Runs) -> None:
    assert [r["step"] for r in runs.records] == [STEPS] * WORLD and {r["backend"] for r in runs.records} == {"gloo"}
    first, second = runs.ranks
    for family in FLOAT64_FAMILIES:
        assert first["float64"][family].keys() == second["float64"][family].keys()
        assert all(torch.equal(v, second["float64"][family][k]) for k, v in first["float64"][family].items()), family
    # parameters and buffers (batch-norm running statistics, counters) alike
    assert all(torch.equal(v, second["fit"][k]) for k, v in first["fit"].items())


def test_two_processes_train_what_one_process_trains_on_the_doubled_batch(runs: Runs) -> None:
    trained = runs.ranks[0]["fit"]
    assert trained.keys() == runs.one_process["doubled"].keys()
    assert _mean_abs_difference(trained, runs.one_process["doubled"]) <= MEAN_TOLERANCE
    # the measure tells batches apart: one process on a per-process batch alone trains other weights
    assert _mean_abs_difference(trained, runs.one_process["per_process"]) >= 20 * MEAN_TOLERANCE


@pytest.mark.parametrize("family", sorted(set(FLOAT64_FAMILIES) - RANDOM_STEP))
def test_every_family_step_is_the_one_process_step_in_float64(runs: Runs, family: str) -> None:
    assert _max_abs_difference(runs.ranks[0]["float64"][family], runs.one_process_float64[family]) <= FLOAT64_TOLERANCE


def test_rank_0_alone_writes_a_checkpoint_of_plain_networks_that_exports(runs: Runs, tmp_path: Path) -> None:
    path = runs.folder / "two" / "checkpoints" / f"step_{STEPS:08d}.pt"
    assert [r["checkpoint"] for r in runs.records] == [str(path), None]
    state = load_checkpoint(path)
    model, _, _ = model_from_checkpoint(path)
    for name, net in model.networks().items():
        assert list(state["networks"][name]) == list(net.state_dict()), name  # no "module." prefix
    assert all(torch.equal(v, runs.ranks[0]["fit"][k]) for k, v in _weights(model).items())
    lines = (runs.folder / "two" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [STEPS]
    assert (runs.folder / "two" / "samples" / f"step_{STEPS:08d}.png").is_file()
    result = export_checkpoint(path, tmp_path / "tiny-lgan", version="0.1.0", licence="test only")
    assert result.manifest.family == "lgan" and all(n.max_abs_diff <= 1e-3 for n in result.networks)
