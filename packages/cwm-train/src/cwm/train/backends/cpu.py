"""``cpu``: fp32 (or bf16 autocast) on the host; gloo between processes.

``bf16 = "auto"`` autocasts to bf16 only where this machine's bf16 matmul is
clearly faster than its fp32 one: CPUs with ``avx512_bf16`` differ (on an AMD EPYC
a bf16 GEMM ran 2.4x the fp32 one and the demo's step 1.6x; on an Intel Xeon
without AMX the GEMM ran 0.6x and the step 0.7x).

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
from typing import Any

import torch

from cwm.core.errors import CwmError
from cwm.train.backends.base import HardwareBackend

#: bf16 autocast also pays for casts and bf16 elementwise ops: "auto" takes it where the
#: bf16 matmul runs at least this many times the fp32 one
BF16_MIN_SPEEDUP = 1.3


class CpuBackend(HardwareBackend):
    name = "cpu"
    device_type = "cpu"
    dist_backend = "gloo"

    def __init__(self, *, bf16: bool | str = False, peak_tflops: float | None = None):
        self._auto = bf16 == "auto"
        if self._auto:
            bf16 = bf16_matmul_speedup() >= BF16_MIN_SPEEDUP
        if not isinstance(bf16, bool):
            raise CwmError(f'hardware.options.bf16 must be true, false or "auto", not {bf16!r}')
        self.bf16, self._peak = bf16, peak_tflops

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            yield

    def peak_flops(self) -> float:
        if self._peak is not None:
            return self._peak * 1e12
        return measured_matmul_flops(torch.bfloat16 if self.bf16 else torch.float32)

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = {**super().describe(), "bf16": self.bf16}
        if self._auto:
            described["bf16_matmul_speedup"] = round(bf16_matmul_speedup(), 2)
        return described

    def memory(self) -> dict[str, float]:
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
        return {"max_rss_gib": rss * scale / 2**30}


def bf16_matmul_speedup() -> float:
    """This machine's bf16 matmul throughput over its fp32 one (measured once a process)."""
    return measured_matmul_flops(torch.bfloat16) / measured_matmul_flops(torch.float32)


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
