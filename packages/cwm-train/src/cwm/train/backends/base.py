"""The hardware-backend protocol: everything the trainer does differently per device.

The trainer never branches on hardware. It asks the backend (from
``registry("hardware")``) for a device and a process-group backend, lets it
``convert`` the model (before parallelizing: FP8 swaps its linears here),
``parallelize`` it on the mesh, run the forward under ``autocast()``, and
calls ``after_optimizer_step`` (FP8 precomputes scales here). ``peak_flops``
and ``memory`` feed the metrics. A new backend subclasses `HardwareBackend`
(or wraps another one, as `h100-fp8` and `async-tp` do) and registers a
factory in its package's ``register_hardware_backends`` hook.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn
from torch.distributed.device_mesh import DeviceMesh

from cwm.train.config import ParallelConfig
from cwm.train.parallel import apply_activation_checkpointing, apply_fsdp, apply_tp


class HardwareBackend:
    name = "base"
    device_type = "cpu"  # of the device mesh
    dist_backend = "gloo"  # torch.distributed process-group backend

    def device(self, local_rank: int) -> torch.device:
        return torch.device(self.device_type)

    def convert(self, model: nn.Module) -> None:
        """Rewrite the model's modules in place (on the meta device, before parallelizing)."""

    def parallelize(
        self,
        root: nn.Module,
        model: nn.Module,
        mesh: DeviceMesh | None,
        cfg: ParallelConfig,
        *,
        compile: bool = False,
    ) -> None:
        """Tensor parallel, activation checkpointing, compile and FSDP, in that order.
        ``root`` is the loss module wrapping ``model`` (the FSDP root); ``compile``:
        `torch.compile` each block (the model config's ``compile``)."""
        if mesh is not None and mesh["tp"].size() > 1:
            apply_tp(model, mesh["tp"], sequence_parallel=cfg.sequence_parallel)
        if cfg.activation_checkpointing:
            apply_activation_checkpointing(model)
        if compile:
            self.compile(model)
        if mesh is not None and mesh["dp"].size() > 1:
            apply_fsdp(root, model, mesh["dp"], **self.fsdp_options())

    def compile(self, model: nn.Module) -> None:
        """One `torch.compile` per block (falls back to eager with a warning)."""
        model.compile_blocks()

    def fsdp_options(self) -> dict[str, Any]:
        return {}

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        yield

    def after_optimizer_step(self, model: nn.Module) -> None:
        """Called after every optimizer step."""

    def peak_flops(self) -> float | None:
        """Peak dense FLOP/s of one device in the training dtype (None: unknown, no MFU)."""
        return None

    def memory(self) -> dict[str, float]:
        """Memory use, in GiB."""
        return {}

    def synchronize(self) -> None:
        """Wait for queued device work (for honest timings)."""

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "device": self.device_type}
