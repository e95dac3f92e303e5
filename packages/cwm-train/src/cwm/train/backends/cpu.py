"""``cpu``: fp32 (or bf16 autocast) on the host; gloo between processes.

Its peak for MFU is measured, not looked up: the best fp32 (or bf16) matmul
throughput of this machine over a few square GEMMs, once per process. That is a
practical ceiling for these kernels, not the vendor's number; pass
``peak_tflops`` to use another.
"""

from __future__ import annotations

import contextlib
import resource
import sys
import time
from collections.abc import Iterator
from functools import cache

import torch

from cwm.train.backends.base import HardwareBackend


class CpuBackend(HardwareBackend):
    name = "cpu"
    device_type = "cpu"
    dist_backend = "gloo"

    def __init__(self, *, bf16: bool = False, peak_tflops: float | None = None):
        self.bf16, self._peak = bf16, peak_tflops

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            yield

    def peak_flops(self) -> float:
        if self._peak is not None:
            return self._peak * 1e12
        return measured_matmul_flops(torch.bfloat16 if self.bf16 else torch.float32)

    def memory(self) -> dict[str, float]:
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
        return {"max_rss_gib": rss * scale / 2**30}


@cache
def measured_matmul_flops(dtype: torch.dtype, n: int = 1024, repeats: int = 5) -> float:
    a = torch.randn(n, n, dtype=dtype)
    b = torch.randn(n, n, dtype=dtype)
    a @ b  # warm up
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best
