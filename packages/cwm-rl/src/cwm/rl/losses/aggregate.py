"""Aggregation: the weight of every token in the loss, computed once over the global batch.

The loss of a step is ``sum(weight * token_loss)`` over every token of the global
batch, so how the batch is split over ranks and accumulation micro-batches does
not change it: each part sums its own tokens (the trainer's convention, where
FSDP's gradient averaging is undone by a factor of the data-parallel size).

- ``token-mean``: every trained token of the batch weighs the same (DAPO);
- ``seq-mean-token-mean``: a mean per sample, then over samples (GRPO's original);
- ``dr-grpo``: a sum per sample over a constant divisor, then a mean over samples
  (Dr. GRPO: no length bias);
- ``prompt-mean``: a token mean per prompt group, then a mean over groups.
"""

from __future__ import annotations

import torch
from torch import Tensor

from cwm.core.errors import CwmError


def token_weights(
    mask: Tensor, keep: Tensor, groups: Tensor, mode: str, *, divisor: int = 0
) -> Tensor:
    """``mask [N, T]`` (trained tokens of each sample), ``keep [N]`` (False: a masked
    sample, e.g. of a zero-variance group), ``groups [N]`` -> weights ``[N, T]`` (float64)."""
    m = (mask & keep[:, None]).double()
    lengths = m.sum(1)
    live = lengths > 0
    if mode == "token-mean":
        return m / lengths.sum().clamp(min=1)
    if mode == "seq-mean-token-mean":
        return m / (lengths.clamp(min=1) * live.sum().clamp(min=1))[:, None]
    if mode == "dr-grpo":
        longest = int(mask.sum(1).max()) if len(mask) else 1
        d = divisor or longest
        return m / (max(d, 1) * live.sum().clamp(min=1))
    if mode == "prompt-mean":
        n = int(groups.max()) + 1 if len(groups) else 0
        per_group = torch.zeros(n, dtype=torch.float64).index_add_(0, groups, lengths)
        groups_live = (per_group > 0).sum().clamp(min=1)
        return m / (per_group[groups].clamp(min=1) * groups_live)[:, None]
    raise CwmError(
        f"unknown loss aggregation {mode!r}; use token-mean, seq-mean-token-mean, dr-grpo "
        "or prompt-mean"
    )
