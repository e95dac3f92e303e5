"""Weights from a trainer to engines: a bucketed broadcast over a process group of their own.

The sender flattens the state dict into buckets of at most ``bucket_mb`` (tensors of
one dtype each, in name order, so every member cuts the same buckets from the same
architecture) and broadcasts a version number, then each bucket. The group holds the
sender and the receiving engines only (NCCL on GPU, gloo on CPU), so weight traffic
never queues behind the trainer's own collectives. A receiver posts the receives of
the next version as soon as it took the last one and applies the new weights between
two engine steps (`LLMEngine.update_weights`).

The group is either a subgroup of a ``torchrun`` job (`dist.new_group`) or a group of
its own that processes outside the job join (`standalone_group`: ``cwm serve`` does
through ``POST /control/weights/join``); ``src`` is the sender's rank in the group.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Mapping
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from cwm.core.errors import CwmError

_PREFIX = "cwm-weights"


def plan_buckets(state: Mapping[str, Tensor], bucket_mb: float) -> list[list[str]]:
    """Names per bucket: consecutive (sorted) tensors of one dtype up to ``bucket_mb``."""
    limit = bucket_mb * 2**20
    out: list[list[str]] = []
    size, dtype = 0.0, None
    for name in sorted(state):
        t = state[name]
        nbytes = t.numel() * t.element_size()
        if not out or t.dtype != dtype or (size + nbytes > limit and out[-1]):
            out.append([])
            size, dtype = 0.0, t.dtype
        out[-1].append(name)
        size += nbytes
    return out


def standalone_group(
    host: str,
    port: int,
    rank: int,
    world_size: int,
    *,
    backend: str = "gloo",
    timeout_s: float = 300,
) -> Any:
    """A process group of its own, outside any ``torchrun`` job: rank 0 hosts its store on
    ``host:port``; returns once all ``world_size`` members joined."""
    if backend not in ("gloo", "nccl"):
        raise CwmError(f"weights group backend {backend!r}: use gloo (CPU) or nccl (CUDA)")
    timeout = datetime.timedelta(seconds=timeout_s)
    try:
        store = dist.TCPStore(host, port, world_size, is_master=rank == 0, timeout=timeout)
        prefixed = dist.PrefixStore(_PREFIX, store)
        if backend == "gloo":
            return dist.ProcessGroupGloo(prefixed, rank, world_size, timeout)
        return dist.ProcessGroupNCCL(prefixed, rank, world_size)
    except (RuntimeError, ValueError) as exc:  # the store or a member did not answer in time
        raise CwmError(
            f"joining the weights group at {host}:{port} as rank {rank} of {world_size} "
            f"failed: {exc}".splitlines()[0]
        ) from None


def _broadcast(group: Any, tensor: Tensor, src: int) -> dist.Work:
    opts = dist.BroadcastOptions()
    opts.rootRank, opts.rootTensor = src, 0
    return group.broadcast([tensor], opts)


class _Member:
    """One end of the broadcast: the group, the sender's rank, the buckets and ``device``
    (where the group's backend takes tensors: cpu for gloo, cuda for nccl)."""

    def __init__(
        self,
        state: Mapping[str, Tensor],
        group: Any,
        src: int,
        bucket_mb: float,
        device: torch.device | str = "cpu",
    ):
        self.group, self.src, self.device = group, src, torch.device(device)
        self.buckets = plan_buckets(state, bucket_mb)


class WeightSender(_Member):
    def publish(self, state: Mapping[str, Tensor], version: int) -> tuple[float, int]:
        """Broadcast ``state`` as ``version``; (seconds, bytes)."""
        start = time.perf_counter()
        number = torch.tensor([version], device=self.device)
        works = [_broadcast(self.group, number, self.src)]
        size = 0
        for names in self.buckets:
            flat = torch.cat([state[n].detach().reshape(-1) for n in names]).to(self.device)
            size += flat.numel() * flat.element_size()
            works.append(_broadcast(self.group, flat, self.src))
        for w in works:
            w.wait()
        return time.perf_counter() - start, size


class WeightReceiver(_Member):
    def __init__(self, state: Mapping[str, Tensor], *args: Any, **kwargs: Any):
        super().__init__(state, *args, **kwargs)
        self.shapes = {n: (t.shape, t.dtype) for n, t in state.items()}
        self.works: list[dist.Work] = []
        self.tensors: list[Tensor] = []

    def post(self) -> None:
        """Start receiving the next version (returns at once)."""
        self.tensors = [torch.zeros(1, dtype=torch.long, device=self.device)]
        for names in self.buckets:
            n = sum(self.shapes[k][0].numel() for k in names)
            self.tensors.append(torch.empty(n, dtype=self.shapes[names[0]][1], device=self.device))
        self.works = [_broadcast(self.group, t, self.src) for t in self.tensors]

    def ready(self) -> bool:
        return bool(self.works) and all(w.is_completed() for w in self.works)

    def take(self) -> tuple[dict[str, Tensor], int]:
        """Wait for the posted version; its state dict and number."""
        for w in self.works:
            w.wait()
        self.works = []
        state = {}
        for names, flat in zip(self.buckets, self.tensors[1:]):
            offset = 0
            for k in names:
                shape = self.shapes[k][0]
                state[k] = flat[offset : offset + shape.numel()].view(shape)
                offset += shape.numel()
        return state, int(self.tensors[0][0])

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.tensors[1:])
