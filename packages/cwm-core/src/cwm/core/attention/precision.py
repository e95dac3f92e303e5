"""Attention on CPU in fp32 when its inputs are bf16 or fp16 and its heads small.

torch's CPU flash kernel runs the short query blocks of our CPU paths (the banded
backend's blocks of 128 queries in training, one query a sequence when decoding)
faster in fp32 than in bf16 when heads are small: on the AMD EPYC VM, forward and
backward with the casts, 1.6x at head dim 32, 1.1x at 64, 0.8-1.0x at 128
(`benchmarks/bench_attention.py`); a bf16 engine decodes 1.4x faster
(`benchmarks/bench_serve.py`). So heads up to FP32_MAX_HEAD_DIM attend in fp32. The
scores gain precision; the output comes back in the inputs' dtype. In training the
fp32 copies of q, k and v are kept for the backward.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

_LOW = (torch.bfloat16, torch.float16)
#: larger heads keep the bf16 kernel, faster there
FP32_MAX_HEAD_DIM = 64


def attend_in_fp32_on_cpu(
    attend: Callable[..., Tensor], q: Tensor, k: Tensor, v: Tensor, *args: Any, **kwargs: Any
) -> Tensor:
    """``attend(q, k, v, *args, **kwargs)``; on CPU, with q, k and v all bf16 (or all
    fp16) and heads of at most FP32_MAX_HEAD_DIM, computed in fp32 (autocast off, which
    would cast them back) and returned in that dtype. Any other inputs, CUDA ones
    included, go through unchanged."""
    low = q.dtype in _LOW and q.dtype == k.dtype == v.dtype
    if q.device.type != "cpu" or not low or q.shape[-1] > FP32_MAX_HEAD_DIM:
        return attend(q, k, v, *args, **kwargs)
    with torch.autocast("cpu", enabled=False):
        return attend(q.float(), k.float(), v.float(), *args, **kwargs).to(q.dtype)
