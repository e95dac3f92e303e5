"""A backend that adds to another one: everything not overridden is the inner backend's."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn
from torch.distributed.device_mesh import DeviceMesh

from cwm.train.backends.base import HardwareBackend
from cwm.train.config import ParallelConfig


class WrappedBackend(HardwareBackend):
    def __init__(self, inner: HardwareBackend):
        self.inner = inner
        self.device_type, self.dist_backend = inner.device_type, inner.dist_backend

    def device(self, local_rank: int) -> torch.device:
        return self.inner.device(local_rank)

    def convert(self, model: nn.Module) -> None:
        self.inner.convert(model)

    def parallelize(
        self,
        root: nn.Module,
        model: nn.Module,
        mesh: DeviceMesh | None,
        cfg: ParallelConfig,
        *,
        compile: bool = False,
    ) -> None:
        self.inner.parallelize(root, model, mesh, cfg, compile=compile)

    def fsdp_options(self) -> dict[str, Any]:
        return self.inner.fsdp_options()

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        with self.inner.autocast():
            yield

    def after_optimizer_step(self, model: nn.Module) -> None:
        self.inner.after_optimizer_step(model)

    def peak_flops(self) -> float | None:
        return self.inner.peak_flops()

    def memory(self) -> dict[str, float]:
        return self.inner.memory()

    def synchronize(self) -> None:
        self.inner.synchronize()

    def describe(self) -> dict[str, Any]:
        return {**self.inner.describe(), "backend": self.name, "inner": self.inner.name}


def inner_backend(base: str | None, options: dict[str, Any]) -> HardwareBackend:
    """The backend named ``base`` (default: ``auto``, cuda when a GPU is visible, else cpu)."""
    from cwm.core.plugins import registry

    return registry("hardware").create(base or "auto", **options)
