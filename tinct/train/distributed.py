"""One loop for one process or many: the device, the process group ``torchrun`` describes, DDP, and the
:class:`StepSampler` that gives every rank its slice of each global batch (the same data order and
crops as a one-process run)."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Sampler

from tinct.train.config import TrainingError


def pick_device(name: str) -> torch.device:
    """ "auto" -> cuda when available, else cpu; anything else as given. Raises a one-line
    :class:`TrainingError` for a name torch does not know, or cuda on a machine without a CUDA GPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise TrainingError(f"unknown device {name!r}; use auto, cpu or cuda") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise TrainingError(f"--device {name}: no CUDA GPU is available here; use --device cpu (or auto)")
    return device


def init_distributed(device: torch.device) -> tuple[int, int, torch.device]:
    """Join the process group torchrun describes in the environment; returns (rank, world size, device).

    Without ``WORLD_SIZE`` > 1 (a plain run) this is (0, 1, device) and nothing is initialised.
    Under torchrun, GPU ranks use nccl and the GPU ``LOCAL_RANK``; CPU ranks use gloo.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size(), device


@contextmanager
def process_group(device: torch.device) -> Iterator[tuple[int, int, torch.device]]:
    """Run a body as one rank of the group torchrun describes: yields (rank, world size, device).

    A plain run (no ``WORLD_SIZE`` > 1) yields (0, 1, device) and does nothing else. Under torchrun,
    when the body returns, every rank waits at a barrier (rank 0 has written its files by then); a
    group this call joined is then left, after a garbage collection has freed what still holds it
    (DistributedDataParallel wrappers sit in reference cycles). Leaving it to the interpreter's
    exit instead lets gloo's threads be torn down mid-shutdown, which aborts the process
    ("terminate called without an active exception") after a run that succeeded. When the body
    raises, the group is left as it is: leaving it while other ranks may still be in a collective
    can hang them.
    """
    joined = not dist.is_initialized()
    rank, world, device = init_distributed(device)
    yield rank, world, device
    if world > 1:
        dist.barrier()
        if joined:
            gc.collect()
            dist.destroy_process_group()


def distribute(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``module`` in DistributedDataParallel when a process group is running, else ``module`` itself."""
    if not (dist.is_available() and dist.is_initialized()):
        return module
    return DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)


class StepSampler(Sampler):
    """Yields (index, seed) for batches from ``start_step`` on: a seeded permutation per epoch.

    The sample seed makes each crop and flip a function of (run seed, epoch, position), so the
    data a step sees does not depend on workers or on where a run was resumed.

    With ``world`` > 1 ranks, every global batch of ``batch`` samples is cut into ``world``
    consecutive slices of ``batch // world`` and rank ``rank`` yields its slice: the ranks
    together see exactly the samples (and seeds) of a one-process run, step by step.
    """

    def __init__(self, n: int, batch: int, seed: int, start_step: int, total_steps: int, rank: int = 0, world: int = 1):
        if batch % world:
            raise TrainingError(f"batch {batch} is not divisible by the {world} distributed processes")
        self.n, self.batch, self.seed = n, batch, seed
        self.start, self.total = start_step, total_steps
        self.rank, self.local = rank, batch // world

    def __len__(self) -> int:
        return (self.total - self.start) * self.local

    def __iter__(self):
        pos = self.start * self.batch
        end = self.total * self.batch
        while pos < end:
            epoch, off = divmod(pos, self.n)
            perm = np.random.default_rng([self.seed, epoch]).permutation(self.n)
            for j in range(off, self.n):
                if pos >= end:
                    return
                if (pos % self.batch) // self.local == self.rank:
                    yield int(perm[j]), (self.seed * 1_000_003 + pos) % 2**32
                pos += 1
