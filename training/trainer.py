"""``fes-train fit``: seeded training with checkpoints, resume, sample grids and a metrics log.

Run folder::

    config.toml                 the resolved experiment config (loads back with training.config)
    checkpoints/step_00001000.pt  networks + optimisers + architecture/loss/config + step
    samples/step_00001000.png   rows of (source | ... | output | target) crops
    metrics.jsonl               one JSON object per log interval: step, mean losses, seconds per
                                step, recon_l1 (the generator's L1 on the last batch, eval mode)

Under ``torchrun --nproc-per-node N`` (WORLD_SIZE > 1, the same config file for every process)
each process trains on its shard of every batch: ``schedule.batch_size`` per process, N times that
per step in all. Every network an optimiser trains runs in ``DistributedDataParallel`` (NCCL on
CUDA, Gloo on CPU), whose gradient hooks average the gradients during each backward pass, and its
batch norms use the statistics of the whole global batch, so N processes compute what one process
with batch N x batch_size computes; training.distributed has the design. Only rank 0 writes files.

Determinism: torch's generator is reseeded from (seed, rank, step) before every step and the batch
order is a function of (seed, epoch), so a resumed run repeats the uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import pickle
import re
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader
from tqdm import tqdm

from engine.errors import FesError, OutputError
from engine.geometry.conditions import from_unit_range
from engine.io.atomic import atomic_path, write_bytes_atomic
from engine.io.images import write_image
from training.base import FeatureNets, TrainingModel, training_model_cls
from training.config import DataConfig, ExperimentConfig, ScheduleConfig, config_from_dict, load_config, to_toml
from training.data.adapters import Sample, make_adapter
from training.data.pairs import PairDataset, make_pairs, person_split
from training.data.prewarp import Jitter, PrewarpDataset, build_items
from training.data.preprocess import Prepared, preprocess
from training.distributed import DistContext, Replicas, init_distributed
from training.features import build_feature_nets

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "fes-train-checkpoint/1"
CHECKPOINT_NAME = re.compile(r"^step_(\d{8})\.pt$")
SAMPLE_ROWS = 4
T = TypeVar("T")


class TrainingError(FesError):
    """A run cannot start or continue (data too small, wrong run folder)."""


class CheckpointError(FesError):
    """A checkpoint file is missing, corrupt, truncated or belongs to another model."""


# ---- data -----------------------------------------------------------------------------------------


def split_samples(data: DataConfig, seed: int, which: str) -> list[Sample]:
    """The dataset's photos of the people in split ``which`` (always a person-level split)."""
    samples = make_adapter(data.kind, data.root, data.options).samples()
    split = person_split(data.kind, {s.person for s in samples}, data.split_file, data.held_out_fraction, seed)
    people = split.people(which)
    return [s for s in samples if s.person in people]


def rank0_first(ctx: DistContext | None, build: Callable[[], T]) -> T:
    """``build()`` on rank 0 before the other ranks (they then read the cache it filled)."""
    if ctx is not None and ctx.distributed and not ctx.main:
        ctx.barrier()
    result = build()
    if ctx is not None and ctx.distributed and ctx.main:
        ctx.barrier()
    return result


def prepared_split(data: DataConfig, seed: int, which: str, ctx: DistContext | None = None) -> list[Prepared]:
    """Preprocessed photos of the people in split ``which`` (under torchrun rank 0 fills the cache first)."""
    chosen = split_samples(data, seed, which)
    prepared, report = rank0_first(ctx, lambda: preprocess(chosen, data.root, data.size, data.cache_dir or None))
    if report.skipped:
        log.warning("%s: %d of %d photos have no usable face and are left out", data.kind, len(report.skipped), report.total)
    return prepared


def pair_dataset(config: ExperimentConfig, which: str, ctx: DistContext | None = None) -> PairDataset | PrewarpDataset:
    """The training pairs of split ``which``: aligned photo pairs, or pre-warped pairs when
    ``data.prewarp`` (every family trains the same way in warp-guided mode)."""
    if config.data.prewarp:
        return prewarp_dataset(config.data, config.schedule.seed, which, ctx, jitter=which == config.data.split)
    items = prepared_split(config.data, config.schedule.seed, which, ctx)
    pairs = make_pairs(items, config.data.pairing)
    return PairDataset(items, pairs, seed=config.schedule.seed, flip=config.data.flip and which == config.data.split)


def prewarp_dataset(data: DataConfig, seed: int, which: str, ctx: DistContext | None = None,
                    jitter: bool = True) -> PrewarpDataset:
    """Pre-warped pairs of the people in split ``which`` (under torchrun rank 0 builds the cache first)."""
    chosen = split_samples(data, seed, which)
    keep = data.prewarp_keep if jitter else 0
    items = rank0_first(ctx, lambda: build_items(chosen, data.root, data.size, data.cache_dir or None, keep))
    return PrewarpDataset(items, seed, Jitter() if jitter else None)


def batch_stream(dataset: PairDataset | PrewarpDataset, batch_size: int, seed: int, ctx: DistContext, start_step: int,
                 num_workers: int = 0) -> Iterator[dict[str, torch.Tensor]]:
    """Endless batches: each epoch a (seed, epoch) permutation, sharded by rank, the tail dropped.

    Starts at ``start_step`` (skipping that many batches), so a resumed run sees the same batches.
    """
    per_epoch = len(dataset) // (batch_size * ctx.world)
    if per_epoch == 0:
        raise TrainingError(
            f"{len(dataset)} training pairs are fewer than batch_size x processes = {batch_size * ctx.world}"
        )
    epoch, skip = divmod(start_step, per_epoch)
    while True:
        dataset.set_epoch(epoch)
        order = np.random.default_rng([seed, epoch]).permutation(len(dataset))[: per_epoch * batch_size * ctx.world]
        mine = order[ctx.rank :: ctx.world].reshape(per_epoch, batch_size)[skip:]
        loader = DataLoader(dataset, batch_sampler=mine.tolist(), num_workers=num_workers)
        yield from loader
        epoch, skip = epoch + 1, 0


# ---- checkpoints ----------------------------------------------------------------------------------


def generator_key(model: TrainingModel) -> str:
    """The name under which networks() holds the exported generator."""
    for name, net in model.networks().items():
        if net is model.generator:
            return name
    raise CheckpointError(f"{type(model).__name__}.networks() does not include its generator")


def save_checkpoint(path: Path, model: TrainingModel, config: ExperimentConfig, step: int) -> None:
    """torch.save of every network's and optimiser's state dict with the config, atomically."""
    state = {
        "format": CHECKPOINT_FORMAT,
        "family": config.family,
        "step": int(step),
        "generator": generator_key(model),
        "architecture": dataclasses.asdict(config.architecture),
        "loss": dataclasses.asdict(config.loss),
        "config": config.to_dict(),
        "networks": {name: net.state_dict() for name, net in model.networks().items()},
        "optimizers": {name: opt.state_dict() for name, opt in model.optimizers().items()},
    }
    with atomic_path(path) as temp:
        torch.save(state, temp)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``; anything unreadable is a CheckpointError naming it."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError, zipfile.BadZipFile, KeyError) as exc:
        # torch's own text advises retrying with weights_only=False, which would run whatever
        # code the file holds: say what is wrong with the file and nothing more.
        raise CheckpointError(f"{path}: corrupt or truncated checkpoint, or not a checkpoint ({type(exc).__name__})") from exc
    required = ("format", "family", "step", "generator", "architecture", "loss", "config", "networks", "optimizers")
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT or any(k not in state for k in required):
        raise CheckpointError(f"{path}: not a fes-train checkpoint (expected format {CHECKPOINT_FORMAT})")
    return state


def restore(model: TrainingModel, state: dict[str, Any], path: Path | str, optimizers: bool = True) -> None:
    """Load networks (and optimisers) from a checkpoint dict; mismatches are CheckpointErrors."""
    networks = model.networks()
    missing = sorted(set(networks) - set(state["networks"]))
    if missing:
        raise CheckpointError(f"{path}: no weights for networks {missing}")
    try:
        for name, net in networks.items():
            net.load_state_dict(state["networks"][name])
        if optimizers:
            for name, opt in model.optimizers().items():
                opt.load_state_dict(state["optimizers"][name])
    except (RuntimeError, KeyError, ValueError) as exc:
        raise CheckpointError(f"{path}: weights do not fit the {state['family']} model ({exc})") from exc


def checkpoints(folder: Path) -> list[tuple[int, Path]]:
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := CHECKPOINT_NAME.match(p.name))]
    return sorted(found)


def model_from_checkpoint(path: str | Path, device: torch.device | str = "cpu",
                          features: FeatureNets | None = None) -> tuple[TrainingModel, ExperimentConfig, dict[str, Any]]:
    """Rebuild the TrainingModel a checkpoint was saved from (its config travels inside it)."""
    state = load_checkpoint(path)
    try:
        config = config_from_dict(state["config"])
    except FesError as exc:
        raise CheckpointError(f"{path}: its saved config no longer resolves ({exc})") from exc
    cls = training_model_cls(config.family)
    model = cls(config.architecture, config.loss, features or FeatureNets(), torch.device(device))
    restore(model, state, path, optimizers=False)
    return model, config, state


# ---- the loop -------------------------------------------------------------------------------------


def _step_seed(seed: int, rank: int, step: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{rank}:{step}".encode()).digest()[:8], "big") % (2**63)


def sample_grid(visuals: dict[str, torch.Tensor], rows: int = SAMPLE_ROWS) -> np.ndarray:
    """(rows * N, columns * N, 3) uint8 BGR: each row one sample, each column one visual."""
    columns = []
    for images in visuals.values():
        tiles = [from_unit_range(t) for t in images[:rows].detach().float().cpu().numpy()]
        columns.append(np.concatenate(tiles, axis=0))
    return np.concatenate(columns, axis=1)


@dataclass(frozen=True)
class FitResult:
    """run_dir; the step reached; the newest checkpoint (None on ranks other than 0); the model trained."""

    run_dir: Path
    step: int
    checkpoint: Path | None
    model: TrainingModel


def _check_run_dir(run_dir: Path, config: ExperimentConfig, resume: bool) -> None:
    saved = run_dir / "config.toml"
    existing = checkpoints(run_dir / "checkpoints")
    if existing and not resume:
        raise TrainingError(f"{run_dir}: holds checkpoints already; resume or use a new run folder")
    if saved.exists() and existing:
        previous = load_config(saved)
        if dataclasses.asdict(previous.architecture) != dataclasses.asdict(config.architecture) or previous.family != config.family:
            raise TrainingError(f"{run_dir}: was trained with another family or architecture ({saved})")


def fit(config: ExperimentConfig, run_dir: str | Path, resume: bool = True, progress: bool = True) -> FitResult:
    """Train ``config`` into ``run_dir``, continuing from its newest checkpoint when ``resume``."""
    run_dir = Path(run_dir)
    ctx = init_distributed(config.schedule.device)
    schedule = config.schedule
    if ctx.main:
        _check_run_dir(run_dir, config, resume)
        for sub in ("checkpoints", "samples"):
            (run_dir / sub).mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(run_dir / "config.toml", to_toml(config).encode("utf-8"))
    ctx.barrier()

    dataset = pair_dataset(config, config.data.split, ctx)
    log.info("%d training pairs of %d people (%s)", len(dataset), len(dataset.people), config.data.pairing)
    f = config.features
    features = build_feature_nets(f.perceptual, ctx.device, f.vgg19_weights or None, f.identity_weights or None,
                                  f.identity_input_size)
    torch.manual_seed(_step_seed(schedule.seed, 0, -1))
    model = training_model_cls(config.family)(config.architecture, config.loss, features, ctx.device)
    for net in model.networks().values():
        net.train()

    start, last_checkpoint = 0, None
    found = checkpoints(run_dir / "checkpoints") if resume else []
    if found:
        last_checkpoint = found[-1][1]
        state = load_checkpoint(last_checkpoint)
        if state["family"] != config.family or state["architecture"] != dataclasses.asdict(config.architecture):
            raise CheckpointError(f"{last_checkpoint}: saved for another family or architecture than the config")
        restore(model, state, last_checkpoint)
        start = int(state["step"])
        if ctx.main:
            _trim_log(run_dir / "metrics.jsonl", start)
        log.info("resuming from %s at step %d", last_checkpoint, start)
    elif schedule.init_from:
        state = load_checkpoint(schedule.init_from)
        if state["family"] != config.family or state["architecture"] != dataclasses.asdict(config.architecture):
            raise CheckpointError(f"{schedule.init_from}: saved for another family or architecture than the config")
        restore(model, state, schedule.init_from, optimizers=False)
        log.info("starting from the weights of %s (step %d)", schedule.init_from, int(state["step"]))
    for optimiser in model.optimizers().values():
        for group in optimiser.param_groups:
            group.setdefault("initial_lr", group["lr"])
    replicas = Replicas(model, ctx) if ctx.distributed else None

    batches = batch_stream(dataset, schedule.batch_size, schedule.seed, ctx, start, schedule.num_workers)
    bar = tqdm(total=schedule.steps, initial=start, disable=not (progress and ctx.main), desc=config.name, unit="step")
    interval: dict[str, list[float]] = {}
    tick = time.perf_counter()
    step = start
    try:
        deadline = time.monotonic() + 60.0 * schedule.max_minutes if schedule.max_minutes > 0 else None
        while step < schedule.steps:
            batch = next(batches)
            _set_learning_rates(model, schedule, step)
            torch.manual_seed(_step_seed(schedule.seed, ctx.rank, step))
            model.set_input(batch)
            losses = model.optimize_parameters()
            step += 1
            for key, value in losses.items():
                interval.setdefault(key, []).append(float(value))
            bar.update(1)
            final = step == schedule.steps or _out_of_time(deadline, ctx)
            if step % schedule.log_every == 0 or final:
                record = _log_record(model, interval, step, time.perf_counter() - tick, ctx)
                interval, tick = {}, time.perf_counter()
                if ctx.main:
                    bar.set_postfix({k: f"{v:.3g}" for k, v in list(record.items())[2:5]})
                    with (run_dir / "metrics.jsonl").open("a", encoding="utf-8") as handle:
                        handle.write(json.dumps(record) + "\n")
            if step % schedule.sample_every == 0 or final:
                _write_samples(model, batch, run_dir / "samples" / f"step_{step:08d}.png", ctx)
            if ctx.main and (step % schedule.checkpoint_every == 0 or final):
                last_checkpoint = run_dir / "checkpoints" / f"step_{step:08d}.pt"
                save_checkpoint(last_checkpoint, model, config, step)
                for _, old in checkpoints(run_dir / "checkpoints")[: -schedule.keep_checkpoints]:
                    old.unlink(missing_ok=True)
            ctx.barrier()
            if final:
                break
    finally:
        bar.close()
        if replicas is not None:
            replicas.close()
    return FitResult(run_dir=run_dir, step=step, checkpoint=last_checkpoint if ctx.main else None, model=model)


def lr_factor(schedule: ScheduleConfig, step: int) -> float:
    """Multiplier of the initial learning rates at ``step`` (0-based): 1, then linear to 0 at ``steps``."""
    if schedule.decay_from <= 0 or step < schedule.decay_from:
        return 1.0
    return max(0.0, (schedule.steps - step) / max(1, schedule.steps - schedule.decay_from))


def _set_learning_rates(model: TrainingModel, schedule: ScheduleConfig, step: int) -> None:
    factor = lr_factor(schedule, step)
    for optimiser in model.optimizers().values():
        for group in optimiser.param_groups:
            group["lr"] = group["initial_lr"] * factor


def _out_of_time(deadline: float | None, ctx: DistContext) -> bool:
    """True once ``schedule.max_minutes`` have passed; under torchrun rank 0's clock decides for all."""
    if deadline is None:
        return False
    late = torch.tensor([1.0 if time.monotonic() >= deadline else 0.0], device=ctx.device)
    if ctx.distributed:
        dist.broadcast(late, src=0)
    return bool(late.item())


def _trim_log(path: Path, step: int) -> None:
    """Drop log lines after ``step`` (written after the checkpoint a run resumes from)."""
    if not path.exists():
        return
    kept = [line for line in path.read_text(encoding="utf-8").splitlines() if line and json.loads(line)["step"] <= step]
    write_bytes_atomic(path, "".join(line + "\n" for line in kept).encode("utf-8"))


def _log_record(model: TrainingModel, interval: dict[str, list[float]], step: int, seconds: float,
                ctx: DistContext) -> dict[str, float]:
    names = sorted(interval)
    values = torch.tensor([float(np.mean(interval[k])) for k in names] + [model.reconstruction_loss()], dtype=torch.float64)
    if ctx.distributed:
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
        values /= ctx.world
    steps = len(next(iter(interval.values()))) if interval else 1
    record: dict[str, float] = {"step": step, "sec_per_step": seconds / max(steps, 1)}
    record |= {f"loss/{k}": float(v) for k, v in zip(names, values[:-1])}
    record["recon_l1"] = float(values[-1])
    return record


@torch.no_grad()
def _write_samples(model: TrainingModel, batch: dict[str, torch.Tensor], path: Path, ctx: DistContext) -> None:
    """The sample grid of the current batch, written by rank 0. Every rank computes it: a family's
    visuals may run its networks, whose synced batch norms are collectives under torchrun."""
    visuals = model.visuals()
    if not visuals:
        visuals = {"source": batch["src_image"], "output": model.forward(), "target": batch["tgt_image"]}
    if not ctx.main:
        return
    try:
        write_image(path, sample_grid(visuals))
    except OutputError as exc:
        log.warning("sample grid not written: %s", exc)
