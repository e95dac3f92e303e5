"""What a ``hardware`` plugin's factory returns: everything the trainer does per device."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:  # torch is an extra of cwm-core
    import torch
    from torch import nn


@runtime_checkable
class HardwareBackend(Protocol):
    """The trainer asks it for a device and a process-group backend, lets it ``convert``
    the model (before parallelizing), ``parallelize`` it on the mesh, runs the forward
    under ``autocast()`` and calls ``after_optimizer_step``."""

    name: str
    device_type: str  # of the device mesh: "cpu", "cuda"
    dist_backend: str  # torch.distributed process-group backend: "gloo", "nccl"

    def device(self, local_rank: int) -> torch.device: ...

    def convert(self, model: nn.Module) -> None: ...

    def parallelize(
        self, root: nn.Module, model: nn.Module, mesh: Any, cfg: Any, *, compile: bool = ...
    ) -> None: ...

    def autocast(self) -> AbstractContextManager[None]: ...

    def after_optimizer_step(self, model: nn.Module) -> None: ...

    def peak_flops(self) -> float | None: ...

    def memory(self) -> dict[str, float]: ...

    def synchronize(self) -> None: ...

    def describe(self) -> dict[str, Any]: ...
