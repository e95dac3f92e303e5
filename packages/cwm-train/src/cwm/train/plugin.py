"""cwm-train's built-in plugins, registered through the ``cwm`` entry point like any other.

Commands ``cwm train`` (and ``cwm train plot``) and ``cwm demo``; hardware
backends ``auto``, ``cpu``, ``cuda``, ``h100-fp8``, ``async-tp``. Cheap to
import: torch loads inside the factories and commands.
"""

from __future__ import annotations

from typing import Any

from cwm.core.plugins import hookimpl


@hookimpl
def register_commands(cli: Any) -> None:
    from cwm.train.cli.demo import demo
    from cwm.train.cli.train import train

    cli.add_command(train)
    cli.add_command(demo)


def auto(**options: Any) -> Any:
    """cuda when a GPU is visible, else cpu."""
    import torch

    return cuda(**options) if torch.cuda.is_available() else cpu(**options)


def cpu(**options: Any) -> Any:
    """fp32 (or bf16 autocast) on the host, gloo; MFU against a measured matmul peak."""
    from cwm.train.backends.cpu import CpuBackend

    return CpuBackend(**options)


def cuda(**options: Any) -> Any:
    """One GPU per process, NCCL, bf16 (FSDP mixed precision or autocast)."""
    from cwm.train.backends.cuda import CudaBackend

    return CudaBackend(**options)


def h100_fp8(**options: Any) -> Any:
    """torchao float8 training on a base backend (recipe tensorwise|rowwise|rowwise_with_gw_hp)."""
    from cwm.train.backends.fp8 import Float8Backend

    return Float8Backend(**options)


def async_tp(**options: Any) -> Any:
    """Sequence-parallel TP with compiled, micro-pipelined collectives (CUDA symmetric memory)."""
    from cwm.train.backends.async_tp import AsyncTpBackend

    return AsyncTpBackend(**options)


@hookimpl
def register_hardware_backends() -> dict[str, Any]:
    return {"auto": auto, "cpu": cpu, "cuda": cuda, "h100-fp8": h100_fp8, "async-tp": async_tp}
