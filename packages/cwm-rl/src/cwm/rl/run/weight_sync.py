"""Weights from the learner to actor processes: a bucketed broadcast over its own group.

The learner flattens the state dict into buckets of at most ``bucket_mb`` (tensors of
one dtype each, in name order, so every rank cuts the same buckets from the same
architecture) and broadcasts a version number, then each bucket, over a process group
of the learner and the actors only (NCCL on GPU, gloo on CPU), so weight traffic never
queues behind the learner's own collectives. An actor posts the receives of the next
version as soon as it applied the last one, keeps decoding, and applies the new
weights between two engine steps once every bucket has arrived.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import torch
import torch.distributed as dist
from torch import Tensor


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


class WeightSender:
    def __init__(
        self, state: Mapping[str, Tensor], group: dist.ProcessGroup, src: int, bucket_mb: float
    ):
        self.group, self.src = group, src
        self.buckets = plan_buckets(state, bucket_mb)

    def publish(self, state: Mapping[str, Tensor], version: int) -> tuple[float, int]:
        """Broadcast ``state`` as ``version``; (seconds, bytes)."""
        start = time.perf_counter()
        works = [dist.broadcast(torch.tensor([version]), self.src, self.group, async_op=True)]
        size = 0
        for names in self.buckets:
            flat = torch.cat([state[n].detach().reshape(-1).cpu() for n in names])
            size += flat.numel() * flat.element_size()
            works.append(dist.broadcast(flat, self.src, self.group, async_op=True))
        for w in works:
            w.wait()
        return time.perf_counter() - start, size


class WeightReceiver:
    def __init__(
        self, state: Mapping[str, Tensor], group: dist.ProcessGroup, src: int, bucket_mb: float
    ):
        self.group, self.src = group, src
        self.shapes = {n: (t.shape, t.dtype) for n, t in state.items()}
        self.buckets = plan_buckets(state, bucket_mb)
        self.works: list[dist.Work] = []
        self.tensors: list[Tensor] = []

    def post(self) -> None:
        """Start receiving the next version (returns at once)."""
        self.tensors = [torch.zeros(1, dtype=torch.long)]
        for names in self.buckets:
            n = sum(self.shapes[k][0].numel() for k in names)
            self.tensors.append(torch.empty(n, dtype=self.shapes[names[0]][1]))
        self.works = [dist.broadcast(t, self.src, self.group, async_op=True) for t in self.tensors]

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
