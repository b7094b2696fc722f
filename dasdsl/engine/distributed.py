"""Multi-process search with torch.distributed: set-up from torchrun's environment, gradient averaging.

``torchrun --nproc_per_node N -m dasdsl run SPACE`` (or ``dasdsl run --nproc N``) starts N
processes; each takes 1/N of every global batch. Weight gradients are averaged by
DistributedDataParallel, architecture hypergradients by all-reduce at every point where the
single-process computation would sum over the batch, so all processes hold identical
architecture parameters after every step. Only rank 0 writes the run directory.
"""

from __future__ import annotations

import os
from datetime import timedelta

import attrs
import torch
import torch.distributed as dist


@attrs.frozen
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


SINGLE = World()


def from_environment(device: torch.device) -> World:
    """Join the process group torchrun describes (gloo on CPU, nccl on CUDA); one process otherwise."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return SINGLE
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(local)
        dist.init_process_group(backend, timeout=timedelta(minutes=10))
    return World(rank, size, local)


def average(tensors: list[torch.Tensor], world: World) -> list[torch.Tensor]:
    """The mean over processes of each tensor (one all-reduce for the whole list)."""
    if not world.distributed or not tensors:
        return tensors
    flat = torch.cat([t.reshape(-1) for t in tensors])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= world.size
    out, offset = [], 0
    for t in tensors:
        out.append(flat[offset : offset + t.numel()].view_as(t))
        offset += t.numel()
    return out


def broadcast_object(obj: object, world: World) -> object:
    if not world.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def shard(index: torch.Tensor, world: World) -> torch.Tensor:
    """This process's part of a global batch of indices (equal parts)."""
    if not world.distributed:
        return index
    part = len(index) // world.size
    return index[world.rank * part : (world.rank + 1) * part]


def finish(world: World) -> None:
    if world.distributed and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
