"""A two-process Gloo run of the real trainer on the CPU, as torchrun would launch it."""

from __future__ import annotations

import hashlib
import json
import os
import socket
from pathlib import Path

import torch
import torch.multiprocessing as mp

from tests.training.conftest import write_config


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, config_path: str, run_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    import torch.distributed as dist

    from training.config import load_config
    from training.trainer import fit

    result = fit(load_config(config_path), run_dir, progress=False)
    backend = dist.get_backend()
    digest = hashlib.sha256()
    for tensor in result.model.generator.state_dict().values():
        digest.update(tensor.detach().numpy().tobytes())
    dist.destroy_process_group()
    record = {"step": result.step, "weights": digest.hexdigest(), "backend": backend,
              "checkpoint": str(result.checkpoint) if result.checkpoint else None}
    (Path(run_dir) / f"rank{rank}.json").write_text(json.dumps(record))


def test_two_process_gloo_run(tmp_path, preprocess_cache):
    config = write_config(tmp_path / "tiny.toml", "lgan", preprocess_cache, steps=2, batch_size=1, every=2)
    run = tmp_path / "run"
    mp.spawn(_worker, args=(2, _free_port(), str(config), str(run)), nprocs=2, join=True)
    ranks = [json.loads((run / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["step"] for r in ranks] == [2, 2] and {r["backend"] for r in ranks} == {"gloo"}
    # each rank trained on its own shard of every batch; averaged gradients keep the weights identical
    assert ranks[0]["weights"] == ranks[1]["weights"]
    assert ranks[0]["checkpoint"] == str(run / "checkpoints" / "step_00000002.pt") and ranks[1]["checkpoint"] is None
    assert (run / "checkpoints" / "step_00000002.pt").is_file()
    assert [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()] == [2]
