"""``cuda``: one GPU per process, NCCL, bf16 compute.

bf16: FSDP all-gathers bf16 parameters and reduces fp32 gradients
(MixedPrecisionPolicy); without FSDP the forward runs under bf16 autocast.
The peak for MFU is the GPU's dense bf16 number from its datasheet (pass
``peak_tflops`` for a GPU not in the table).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

from cwm.core.errors import CwmError
from cwm.train.backends.base import HardwareBackend

#: dense bf16 TFLOP/s (no sparsity), by a substring of torch.cuda.get_device_name()
PEAK_BF16_TFLOPS = {
    "H200": 989.0,
    "H100 NVL": 835.0,
    "H100 PCIe": 756.0,
    "H100": 989.0,  # SXM
    "H800": 989.0,
    "GH200": 989.0,
    "B200": 2250.0,
    "A100": 312.0,
    "A800": 312.0,
    "L40S": 362.0,
    "L4": 121.0,
    "A10G": 70.0,
    "RTX 4090": 165.0,
}


class CudaBackend(HardwareBackend):
    name = "cuda"
    device_type = "cuda"
    dist_backend = "nccl"

    def __init__(self, *, bf16: bool = True, peak_tflops: float | None = None):
        if not torch.cuda.is_available():
            raise CwmError(
                f"hardware backend {self.name!r} needs a CUDA GPU and none is visible; "
                'use hardware.backend = "cpu" (or "auto")'
            )
        self.bf16, self._peak = bf16, peak_tflops

    def device(self, local_rank: int) -> torch.device:
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)

    def fsdp_options(self) -> dict[str, Any]:
        if not self.bf16:
            return {}
        from torch.distributed.fsdp import MixedPrecisionPolicy

        return {
            "mp_policy": MixedPrecisionPolicy(
                param_dtype=torch.bfloat16, reduce_dtype=torch.float32
            )
        }

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.bf16):
            yield

    def peak_flops(self) -> float | None:
        if self._peak is not None:
            return self._peak * 1e12
        name = torch.cuda.get_device_name()
        for key, tflops in PEAK_BF16_TFLOPS.items():
            if key in name:
                return tflops * 1e12
        return None

    def memory(self) -> dict[str, float]:
        return {
            "max_allocated_gib": torch.cuda.max_memory_allocated() / 2**30,
            "max_reserved_gib": torch.cuda.max_memory_reserved() / 2**30,
        }

    def synchronize(self) -> None:
        torch.cuda.synchronize()

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "device": torch.cuda.get_device_name(), "bf16": self.bf16}
