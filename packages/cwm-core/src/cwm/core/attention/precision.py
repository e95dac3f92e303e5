"""Attention on CPU in fp32, whatever the precision of its inputs.

torch's CPU flash kernel runs the short query blocks our CPU paths give it (the
banded backend's blocks of 128 queries in training, one query a sequence when the
engine decodes) faster in fp32 than in bf16: up to 2x forward and backward in
training, 5x when decoding (cwm-core's README has the measurements). The scores
gain precision too; the output comes back in the inputs' dtype.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

_LOW = (torch.bfloat16, torch.float16)


def attend_in_fp32_on_cpu(
    attend: Callable[..., Tensor], q: Tensor, k: Tensor, v: Tensor, *args: Any, **kwargs: Any
) -> Tensor:
    """``attend(q, k, v, *args, **kwargs)``, on CPU with bf16/fp16 inputs computed in fp32
    (autocast off, which would cast them back)."""
    if q.device.type != "cpu" or q.dtype not in _LOW:
        return attend(q, k, v, *args, **kwargs)
    with torch.autocast("cpu", enabled=False):
        return attend(q.float(), k.float(), v.float(), *args, **kwargs).to(q.dtype)
