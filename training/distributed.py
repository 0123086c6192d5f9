"""Data-parallel training under ``torchrun``: torch's DistributedDataParallel around every trained network.

``fes-train fit`` launched by ``torchrun --nproc-per-node N`` (WORLD_SIZE > 1) joins a process group
(NCCL on CUDA, Gloo on CPU; :func:`init_distributed`). Each process trains on its shard of every
batch (training.trainer.batch_stream), and :class:`Replicas` makes the N processes compute what one
process would with the N shards as one batch:

* every network of ``TrainingModel.trained_networks()`` (generators, discriminators, encoders, heads:
  whatever an optimiser trains) is wrapped in ``DistributedDataParallel``; the family's training step
  calls ``model.replica(net)``, which is that wrapper, so DDP's gradient hooks average the gradients
  across processes during each backward pass, before the optimiser steps;
* every ``BatchNorm2d`` of those networks becomes a :class:`SyncedBatchNorm2d`, whose training-mode
  statistics are those of the whole global batch (torch's ``nn.SyncBatchNorm`` runs on CUDA only;
  this one runs on every backend). With per-process statistics the processes would train on N batch
  norms of batch B, not on one of batch N x B.

The families run several forward and backward passes per step (pix2pix style: D on real and on
generated images, then G through the frozen D; TER-GAN also trains heads and critics apart), which
DDP supports under four rules the families keep:

1. A forward pass whose backward trains a network goes through its replica, as often as the step
   needs it (D on real and on fake, G twice for G2-GAN's cycle). Each replica forward resets DDP's
   bookkeeping for the next backward, so several forwards before one backward are fine. Real and
   fake are not concatenated into one D batch: that would change the batch-norm statistics, and so
   every single-process run.
2. A network frozen for a backward (the discriminators during the generator step) is called as the
   plain module: its parameters get no gradients, so DDP has nothing to reduce.
3. The backward after a replica's forward gives a gradient to every parameter of that network, so
   DDP runs with ``find_unused_parameters=False`` and ``static_graph=False`` and no ``no_sync``.
   A family that trains parts of one network in different passes lists the parts as separate trained
   networks (TER-GAN's encoders and decoder: the encoders are pre-trained without the decoder).
4. Another method of a wrapped network (the U-Net cGAN's ``embed``) may add to a backward in which the
   replica's forward also ran: DDP's hooks sit on the parameters, so they see its gradients too.

DDP broadcasts rank 0's parameters and buffers once, when it wraps them, and not before every
forward (``forward_sync_buffers=False``): the synced batch norms update identical running statistics
on every process, so there is nothing to broadcast. The synced batch norms are collectives, so every
rank runs the same networks in the same order, sample grids included (rank 0 alone writes them).
Checkpoints and export use the plain networks (``TrainingModel.networks()``), never the wrappers,
so state dicts carry no ``module.`` prefix; :meth:`Replicas.close` puts the plain batch norms back.
Without torchrun nothing is wrapped, ``replica(net)`` is ``net`` and a run computes what it always did.

tests/training/test_ddp.py checks two Gloo processes against one process with the doubled batch:
equal to about 1e-12 in float64 for every family, and to rounding in float32.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from engine.errors import FesError
from training.base import TrainingModel

log = logging.getLogger(__name__)


class DistributedError(FesError):
    """The run cannot be placed as configured: a device that is missing, or a family's networks that
    cannot be trained data-parallel as declared."""


@dataclass(frozen=True)
class DistContext:
    """This process's place in a torchrun launch (world 1 when run directly)."""

    rank: int
    world: int
    local_rank: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()


def resolve_device(preference: str, local_rank: int = 0) -> torch.device:
    """``schedule.device`` ("auto", "cpu", "cuda", "cuda:1", ...) -> the device of this process."""
    if preference == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    device = torch.device(f"cuda:{local_rank}" if preference == "cuda" else preference)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DistributedError(f"schedule.device = {preference!r} but CUDA is not available")
    return device


def init_distributed(preference: str) -> DistContext:
    """Join the torchrun process group when WORLD_SIZE > 1 (NCCL for CUDA devices, Gloo otherwise)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(preference, local_rank)
    if world > 1:
        if device.type == "cuda":
            torch.cuda.set_device(device)
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        log.info("process %d of %d on %s (%s)", rank, world, device, dist.get_backend())
    return DistContext(rank=rank, world=world, local_rank=local_rank, device=device)


class _SumOverProcesses(torch.autograd.Function):
    """All-reduce (sum) of a tensor; its gradient is the all-reduced gradient, because every
    process's loss depends on every process's part of the sum."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: torch.Tensor) -> torch.Tensor:
        total = x.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(total)
        return total

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> torch.Tensor:
        total = grad.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(total)
        return total


class SyncedBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training-mode mean and variance are those of the global batch.

    x: (B, C, H, W) on this process -> the same shape and dtype. In training mode (with a process
    group of more than one process) the per-channel mean and biased variance are taken over
    (all processes' B, H, W), two passes in float32, and the running statistics get the unbiased
    variance of that global count, as one BatchNorm2d over the concatenated batch would; gradients
    flow back through the all-reduced sums. Otherwise it is BatchNorm2d. Same state dict keys.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        use_batch = self.training or self.running_mean is None
        if not (use_batch and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        self._check_input_dim(x)
        values = x.to(torch.promote_types(x.dtype, torch.float32))
        dims = (0, 2, 3)
        local_count = values.new_full((1,), values.numel() / values.shape[1])
        sums = _SumOverProcesses.apply(torch.cat([values.sum(dims), local_count]))
        count = sums[-1].detach()
        mean = sums[:-1] / count
        centred = values - mean[None, :, None, None]
        var = _SumOverProcesses.apply(centred.square().sum(dims)) / count
        if self.training and self.track_running_stats and self.running_mean is not None:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                self.running_mean.lerp_(mean, momentum)
                self.running_var.lerp_(var * count / (count - 1).clamp(min=1), momentum)
        out = centred * torch.rsqrt(var + self.eps)[None, :, None, None]
        if self.affine:
            out = out * self.weight[None, :, None, None] + self.bias[None, :, None, None]
        return out.to(x.dtype)

    @classmethod
    def replacing(cls, norm: nn.BatchNorm2d) -> "SyncedBatchNorm2d":
        """A synced batch norm that shares ``norm``'s parameters and buffers (optimisers keep theirs)."""
        synced = cls(norm.num_features, norm.eps, norm.momentum, norm.affine, norm.track_running_stats)
        if norm.affine:
            synced.weight, synced.bias = norm.weight, norm.bias
        for name, buffer in norm.named_buffers(recurse=False):
            setattr(synced, name, buffer)
        synced.train(norm.training)
        return synced


class Replicas:
    """The DistributedDataParallel wrappers of one TrainingModel's trained networks (module docstring).

    Construction checks that every optimised parameter belongs to exactly one trained network,
    swaps the batch norms for synced ones, wraps each network (DDP broadcasts rank 0's weights) and
    installs the wrappers as the model's replicas; :meth:`close` undoes the last two.
    """

    def __init__(self, model: TrainingModel, ctx: DistContext) -> None:
        self.model = model
        trained = model.trained_networks()
        _check_partition(trained, model.optimizers())
        self._swapped: list[tuple[nn.Module, str, nn.BatchNorm2d]] = []
        for net in trained.values():
            self._swapped += _sync_batch_norms(net)
        device_ids = [ctx.device.index] if ctx.device.type == "cuda" else None
        wrappers = {
            net: DistributedDataParallel(net, device_ids=device_ids, forward_sync_buffers=False) for net in trained.values()
        }
        model.set_replicas(wrappers)
        log.info("%s: %d networks in DistributedDataParallel over %d processes (%s), %d batch norms synced",
                 model.family, len(wrappers), ctx.world, dist.get_backend(), len(self._swapped))

    def close(self) -> None:
        """Remove the wrappers and put the plain batch norms back (they share the trained weights)."""
        self.model.set_replicas({})
        for parent, name, norm in reversed(self._swapped):
            norm.train(getattr(parent, name).training)
            setattr(parent, name, norm)
        self._swapped = []


def _check_partition(trained: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer]) -> None:
    """Every parameter an optimiser steps is in exactly one trained network (else its gradient would
    not be averaged, or would be averaged twice)."""
    owner: dict[int, str] = {}
    for name, net in trained.items():
        for p in net.parameters():
            if id(p) in owner:
                raise DistributedError(f"trained networks {owner[id(p)]!r} and {name!r} share parameters")
            owner[id(p)] = name
    for name, optimizer in optimizers.items():
        stray = sum(1 for group in optimizer.param_groups for p in group["params"] if id(p) not in owner)
        if stray:
            raise DistributedError(f"optimiser {name!r} steps {stray} parameters outside trained_networks()")


def _sync_batch_norms(net: nn.Module) -> list[tuple[nn.Module, str, nn.BatchNorm2d]]:
    """Replace every BatchNorm2d below ``net`` by a SyncedBatchNorm2d; returns (parent, name, original)."""
    swapped = []
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, (nn.BatchNorm1d, nn.BatchNorm3d, nn.SyncBatchNorm)):
                raise DistributedError(f"{type(child).__name__} in {type(net).__name__} is not synced across processes")
            if type(child) is nn.BatchNorm2d:
                setattr(parent, name, SyncedBatchNorm2d.replacing(child))
                swapped.append((parent, name, child))
    return swapped
