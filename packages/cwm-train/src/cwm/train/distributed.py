"""Process-group setup from the environment torchrun sets (RANK, WORLD_SIZE, LOCAL_RANK).

The device comes first: a GPU process must ``set_device`` before it joins the group,
and NCCL is told that device (``device_id``) so it binds its communicator at once
instead of guessing a GPU (rank 0's, on every process) at the first collective.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    rank: int
    size: int
    local_rank: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_world(dist_backend: str, device: Callable[[int], torch.device]) -> World:
    """This process's device (``device(local_rank)``, which sets the current GPU), then
    the process group torchrun describes (none for a single process)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", str(rank)))
    here = device(local)
    if size > 1 and not dist.is_initialized():
        dist.init_process_group(dist_backend, **process_group_options(here))
    if dist.is_initialized():
        rank, size = dist.get_rank(), dist.get_world_size()
    return World(rank, size, local, here)


def process_group_options(device: torch.device) -> dict[str, Any]:
    """``device_id`` for a GPU process (NCCL binds to it eagerly); nothing for the CPU."""
    return {"device_id": device} if device.type == "cuda" else {}


def all_reduce_sum(value: float, device: Any, group: dist.ProcessGroup | None = None) -> float:
    """The sum of ``value`` over the group (``device``: where the process group computes)."""
    if not dist.is_initialized():
        return value
    import torch

    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t, group=group)
    return float(t[0])


def broadcast(value: object) -> object:
    """Rank 0's ``value`` on every rank."""
    if not dist.is_initialized():
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]
