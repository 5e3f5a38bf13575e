"""Multi-process training with ``torchrun``: process group, device, DDP wrapping, sampling.

Start a run on every GPU of a machine with
``torchrun --nproc_per_node N -m tpsmm.cli train ...`` (or ``torchrun ... $(which tpsmm)``);
several machines add ``--nnodes``/``--rdzv-endpoint`` as usual. :func:`init_distributed`
reads torchrun's environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` through
:func:`tpsmm.runtime.torchrun_env`; ``MASTER_ADDR``, ``MASTER_PORT`` through PyTorch's
``env://``) and joins the process group: NCCL on CUDA, Gloo on the CPU. Without that
environment (or with ``WORLD_SIZE=1``) it returns a single-process context and nothing
here needs a process group.

Batch size
    The configuration's ``batch_size`` is the **global** batch, as in the authors' code
    (their ``DataParallel`` split one batch of 28 over the GPUs): each of ``W`` ranks
    processes ``batch_size / W`` items (``batch_size`` must be divisible by ``W``), so the
    published schedules keep their meaning on any number of GPUs. DDP averages the
    gradients, and every loss term is a batch mean, so W ranks compute the gradient of the
    same global batch as one process would. :class:`GlobalBatchSampler` makes the global
    batches themselves independent of ``W``: batch ``s`` of an epoch is the same set of
    items for one process and for W processes, rank ``r`` taking the ``r``-th contiguous
    chunk.

BatchNorm
    The keypoint detector and background predictor (ResNet-18) and the AVD network use
    BatchNorm, which in train mode normalises with the statistics of the batch it sees:
    on W ranks that is the per-rank batch, so results differ slightly from one process on
    the global batch. ``--sync-bn`` converts them to ``SyncBatchNorm`` (global batch
    statistics, equal to one process). PyTorch implements SyncBatchNorm for GPUs only, so
    ``--sync-bn`` is refused on the CPU (Gloo).

Only rank 0 writes logs, visualisations and checkpoints (:attr:`DistContext.is_main`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.utils.data import Sampler

from tpsmm.errors import ConfigError, DatasetError, TPSMMError
from tpsmm.runtime import resolve_device, torchrun_env

__all__ = [
    "DistContext",
    "GlobalBatchSampler",
    "all_gather_objects",
    "all_reduce_sum",
    "barrier",
    "cleanup_distributed",
    "convert_sync_batchnorm",
    "init_distributed",
    "wrap_ddp",
]


@dataclass(frozen=True)
class DistContext:
    """Where this process stands in a (possibly single-process) run.

    Attributes:
        rank: global rank (0 .. world_size - 1).
        world_size: number of processes.
        local_rank: rank on this machine (picks the GPU).
        device: this process's device.
        backend: ``"nccl"``, ``"gloo"`` or None (no process group).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    backend: str | None = None

    @property
    def distributed(self) -> bool:
        """True when a process group with more than one process is active."""
        return self.backend is not None and self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on rank 0, the process that logs and saves."""
        return self.rank == 0

    def per_rank_batch(self, global_batch: int) -> int:
        """This rank's share of a global batch; raises when it does not divide evenly."""
        if global_batch % self.world_size:
            raise ConfigError(
                f"batch_size {global_batch} is the global batch and must be divisible by the "
                f"number of processes ({self.world_size})"
            )
        return global_batch // self.world_size


def init_distributed(device: str | torch.device | None = None) -> DistContext:
    """Join torchrun's process group when its environment says so.

    Args:
        device: ``--device`` (:func:`tpsmm.runtime.resolve_device`; None or ``auto``:
            CUDA when available, else the CPU; under torchrun ``cuda`` is
            ``cuda:LOCAL_RANK``).

    Returns:
        The :class:`DistContext`; single-process when ``WORLD_SIZE`` is unset or 1.

    Raises:
        TPSMMError: a bad device or torchrun environment; MPS with several processes.
    """
    env = torchrun_env()
    rank, world_size, local_rank = env.rank, env.world_size, env.local_rank
    resolved = resolve_device(device, env=env)
    if world_size <= 1:
        return DistContext(device=resolved)
    if resolved.type not in ("cuda", "cpu"):
        raise TPSMMError(
            f"training on several processes needs CUDA (NCCL) or the CPU (Gloo), not {resolved}"
        )
    backend = "nccl" if resolved.type == "cuda" else "gloo"
    if resolved.type == "cuda":
        torch.cuda.set_device(resolved)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
    return DistContext(rank, world_size, local_rank, resolved, backend)


def cleanup_distributed(ctx: DistContext) -> None:
    """Leave the process group (if this context joined one)."""
    if ctx.distributed and dist.is_initialized():
        dist.destroy_process_group()


def convert_sync_batchnorm(module: nn.Module, ctx: DistContext) -> nn.Module:
    """``module`` with every BatchNorm as SyncBatchNorm (global batch statistics).

    Raises:
        TPSMMError: on the CPU, where PyTorch has no SyncBatchNorm.
    """
    if ctx.device.type != "cuda":
        raise TPSMMError(
            "--sync-bn needs CUDA: PyTorch implements SyncBatchNorm for GPUs only "
            "(on the CPU each process normalises with its own batch's statistics)"
        )
    if not ctx.distributed:
        return module
    return nn.SyncBatchNorm.convert_sync_batchnorm(module)


def wrap_ddp(module: nn.Module, ctx: DistContext, *, find_unused_parameters: bool) -> nn.Module:
    """``module`` in DistributedDataParallel when distributed, else ``module`` itself.

    Parameters that do not require gradients (the frozen VGG-19, networks not trained in
    this stage) are ignored by DDP; ``find_unused_parameters`` is needed while a trained
    network is left out of the graph (the background predictor before ``bg_start``).
    """
    if not ctx.distributed:
        return module
    device_ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(
        module,
        device_ids=device_ids,
        output_device=device_ids[0] if device_ids else None,
        find_unused_parameters=find_unused_parameters,
    )


def all_reduce_sum(tensor: Tensor, ctx: DistContext) -> Tensor:
    """The element-wise sum of ``tensor`` over the ranks (``tensor`` itself when single)."""
    if ctx.distributed:
        tensor = tensor.clone()
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def all_gather_objects(obj: Any, ctx: DistContext) -> list[Any]:
    """``[obj of rank 0, obj of rank 1, ...]`` on every rank (``[obj]`` when single)."""
    if not ctx.distributed:
        return [obj]
    gathered: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(gathered, obj)
    return gathered


def barrier(ctx: DistContext) -> None:
    """Wait for every rank (no-op when single)."""
    if ctx.distributed:
        dist.barrier()


class GlobalBatchSampler(Sampler[list[int]]):
    """Shuffled global batches of a fixed size, shared out over the ranks; resumable.

    Epoch ``e``'s order is a permutation drawn from ``(seed, e)`` alone (the same on every
    rank and for any number of ranks). Global batch ``s`` is items ``perm[s*B:(s+1)*B]``;
    rank ``r`` of ``W`` yields the chunk ``[r*B/W, (r+1)*B/W)`` of it. An incomplete last
    batch is dropped (the authors' ``drop_last``). :meth:`set_epoch` selects the epoch and
    how many global batches to skip (when resuming in the middle of an epoch). It plays
    the part of ``DistributedSampler``, with global batches that do not depend on ``W``.

    Args:
        num_items: length of the dataset.
        global_batch: B, items per optimisation step over all ranks.
        rank, world_size: this process's share.
        seed: the run's seed.
        shuffle: False keeps the dataset order (for tests).
    """

    def __init__(
        self,
        num_items: int,
        global_batch: int,
        *,
        rank: int = 0,
        world_size: int = 1,
        seed: int = 0,
        shuffle: bool = True,
    ):
        if global_batch % world_size:
            raise ConfigError(
                f"batch_size {global_batch} must be divisible by the number of processes "
                f"({world_size})"
            )
        if num_items < global_batch:
            raise DatasetError(
                f"an epoch has {num_items} items (videos x num_repeats), fewer than one batch "
                f"of {global_batch}; lower batch_size or raise num_repeats"
            )
        self.num_items = num_items
        self.global_batch = global_batch
        self.rank = rank
        self.world_size = world_size
        self.seed = seed
        self.shuffle = shuffle
        self.epoch = 0
        self.skip = 0

    @property
    def batches_per_epoch(self) -> int:
        """Number of global batches in a whole epoch."""
        return self.num_items // self.global_batch

    def set_epoch(self, epoch: int, skip_batches: int = 0) -> None:
        """Iterate over epoch ``epoch``, starting after its first ``skip_batches`` batches."""
        if not 0 <= skip_batches <= self.batches_per_epoch:
            raise ValueError(f"skip_batches must be in [0, {self.batches_per_epoch}]")
        self.epoch = epoch
        self.skip = skip_batches

    def permutation(self, epoch: int) -> np.ndarray:
        """The item order of ``epoch``, (num_items,) int64."""
        if not self.shuffle:
            return np.arange(self.num_items)
        return np.random.default_rng([self.seed, epoch]).permutation(self.num_items)

    def __len__(self) -> int:
        return self.batches_per_epoch - self.skip

    def __iter__(self) -> Iterator[list[int]]:
        order = self.permutation(self.epoch)
        per_rank = self.global_batch // self.world_size
        for step in range(self.skip, self.batches_per_epoch):
            start = step * self.global_batch + self.rank * per_rank
            yield order[start : start + per_rank].tolist()
