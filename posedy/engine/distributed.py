"""Process-group helpers and a deterministic, resumable distributed sampler.

Under ``torchrun`` the environment carries ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the
rendezvous address; ``init_distributed`` joins with ``env://`` (gloo on CPU, nccl on CUDA).
Without those variables everything runs as a single process of rank 0.
"""

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_distributed(device_type: str) -> DistInfo:
    """Join the process group described by the environment, if any.

    Args:
        device_type: ``"cuda"`` (nccl, and sets the current device to LOCAL_RANK) or ``"cpu"`` (gloo).
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistInfo()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    if not dist.is_initialized():
        if device_type == "cuda":
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo", init_method="env://")
    return DistInfo(rank=rank, world_size=world_size, local_rank=local_rank)


def cleanup_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.distributed:
        dist.barrier()


def all_reduce_mean(value: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Mean of a tensor over ranks (a copy; the input is left alone)."""
    value = value.detach().clone()
    if info.distributed:
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
        value /= info.world_size
    return value


def broadcast_buffers(module: torch.nn.Module, info: DistInfo) -> None:
    """Copy rank 0's buffers (BatchNorm running statistics, tau) to every rank, in place.

    DDP broadcasts buffers at the start of each forward, so after the last forward of an
    epoch each rank holds its own running statistics; this makes the ranks agree again.
    """
    if info.distributed:
        for buffer in module.buffers():
            dist.broadcast(buffer.data, src=0)


def broadcast_object(obj, info: DistInfo):
    """Rank 0's ``obj`` on every rank."""
    if not info.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


class EpochSampler(torch.utils.data.Sampler):
    """Seeded shuffle per epoch, sharded over ranks, resumable mid-epoch.

    The order of epoch ``e`` is ``torch.randperm(n, generator=seed + e)``; it depends on
    nothing else, so a resumed run sees the same batches. Every rank gets the same number of
    full batches (the tail that does not fill one batch on every rank is dropped, as HRNet's
    BatchNorm-friendly ``drop_last`` would); rank ``r`` takes every ``world_size``-th index
    of the permutation starting at ``r``.

    Args:
        num_samples: dataset length.
        batch_size: per-process batch size.
        seed: base seed.
        rank, world_size: this process's place in the group.
        shuffle: False keeps index order (still sharded and truncated).
        max_batches: cap on batches per epoch (0 = no cap), for short runs.
    Use ``set_epoch(epoch, start_batch)`` before iterating; iteration then starts at batch
    ``start_batch`` of that epoch.
    """

    def __init__(self, num_samples: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1,
                 shuffle: bool = True, max_batches: int = 0):
        if num_samples < batch_size * world_size:
            raise ValueError(f"{num_samples} samples cannot fill one batch of {batch_size} on each "
                             f"of {world_size} processes")
        self.num_samples = num_samples
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.shuffle = shuffle
        batches = num_samples // (batch_size * world_size)
        self.batches_per_epoch = min(batches, max_batches) if max_batches > 0 else batches
        self.epoch = 0
        self.start_batch = 0

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        if not 0 <= start_batch <= self.batches_per_epoch:
            raise ValueError(f"start_batch {start_batch} outside [0, {self.batches_per_epoch}]")
        self.epoch = epoch
        self.start_batch = start_batch

    def epoch_indices(self, epoch: int) -> torch.Tensor:
        """This rank's indices for the whole of ``epoch``: (batches_per_epoch * batch_size,) int64."""
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed + epoch)
            order = torch.randperm(self.num_samples, generator=generator)
        else:
            order = torch.arange(self.num_samples)
        used = self.batches_per_epoch * self.batch_size * self.world_size
        return order[:used][self.rank::self.world_size]

    def __iter__(self):
        indices = self.epoch_indices(self.epoch)[self.start_batch * self.batch_size:]
        return iter(indices.tolist())

    def __len__(self) -> int:
        return (self.batches_per_epoch - self.start_batch) * self.batch_size


class EpochTaggedSampler(torch.utils.data.Sampler):
    """``sampler``'s indices as ``(epoch, index)`` pairs, the epoch read when iteration starts.

    With persistent DataLoader workers each worker keeps its own copy of the dataset for the
    whole run, so ``dataset.set_epoch`` in the main process no longer reaches it; the epoch
    travels with each index instead (``EpochIndexedDataset`` applies it), which keeps every
    sample's randomness ``(seed, epoch, index)`` whatever the workers and the resume point.
    """

    def __init__(self, sampler: EpochSampler):
        self.sampler = sampler

    def __iter__(self):
        epoch = self.sampler.epoch
        return ((epoch, index) for index in self.sampler)

    def __len__(self) -> int:
        return len(self.sampler)


class EpochIndexedDataset(torch.utils.data.Dataset):
    """``dataset[(epoch, index)]``: ``dataset.set_epoch(epoch)`` (when it has one and the epoch
    changed), then ``dataset[index]``."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key):
        epoch, index = key
        if hasattr(self.dataset, "set_epoch") and getattr(self.dataset, "epoch", None) != epoch:
            self.dataset.set_epoch(epoch)
        return self.dataset[index]
