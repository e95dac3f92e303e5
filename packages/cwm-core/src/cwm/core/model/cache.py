"""Incremental decoding: the `AttentionCache` protocol and a simple contiguous cache.

The model calls ``cache.positions(n)`` once per forward (positions of the new
tokens) and ``cache.attend(layer, q, k, v, window=...)`` in every layer, with
``q``/``k``/``v`` after RoPE. The cache stores the new keys and values of that
layer and returns the attention of the new queries over everything it holds
for the row, under the same mask rule as training. A serving engine implements
the same two methods over a paged cache (cwm-serve); `DenseKVCache` is the
reference it is compared with.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor

from cwm.core.attention.masks import dense_mask
from cwm.core.attention.precision import attend_in_fp32_on_cpu
from cwm.core.errors import CwmError
from cwm.core.model.config import ModelConfig
from cwm.core.model.copy import CopyMemory


@runtime_checkable
class AttentionCache(Protocol):
    def positions(self, n_new: int) -> Tensor:
        """``[B, n_new]`` positions of the tokens about to be appended."""
        ...

    def attend(self, layer: int, q: Tensor, k: Tensor, v: Tensor, *, window: int | None) -> Tensor:
        """Store ``k``/``v`` ``[B, S_new, H_kv, D]`` for ``layer``; return the attention of
        ``q [B, S_new, H, D]`` over all cached keys of the row (new ones included)."""
        ...


class DenseKVCache:
    """One contiguous ``[B, max_len, H_kv, D]`` buffer per layer; every row has the same length."""

    def __init__(
        self,
        config: ModelConfig,
        batch_size: int,
        max_len: int,
        *,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ):
        shape = (config.n_layers, batch_size, max_len, config.n_kv_heads, config.head_dim)
        self.k = torch.zeros(shape, dtype=dtype, device=device)
        self.v = torch.zeros(shape, dtype=dtype, device=device)
        self.batch_size, self.max_len = batch_size, max_len
        self.lengths = [0] * config.n_layers  # tokens stored, per layer
        #: a copy head's keys and tokens (`cwm.core.model.copy`)
        self.copy = (
            CopyMemory(batch_size, max_len, config.copy_dim, device) if config.copy_dim else None
        )

    @classmethod
    def for_model(cls, model: torch.nn.Module, batch_size: int, max_len: int) -> DenseKVCache:
        weight = model.output.weight
        return cls(model.config, batch_size, max_len, dtype=weight.dtype, device=weight.device)

    @property
    def seq_len(self) -> int:
        """Tokens cached by a completed forward."""
        return self.lengths[-1]

    def positions(self, n_new: int) -> Tensor:
        start = self.lengths[0]
        return torch.arange(start, start + n_new, device=self.k.device).expand(
            self.batch_size, n_new
        )

    def attend(self, layer: int, q: Tensor, k: Tensor, v: Tensor, *, window: int | None) -> Tensor:
        start = self.lengths[layer]
        end = start + q.shape[1]
        if end > self.max_len:
            raise CwmError(
                f"KV cache full: {end} tokens do not fit in max_len={self.max_len}; "
                "create the cache with a larger max_len"
            )
        self.k[layer, :, start:end] = k
        self.v[layer, :, start:end] = v
        self.lengths[layer] = end
        # keys older than the window can never be seen again by these queries
        lo = 0 if window is None else max(0, start + 1 - window)
        q_pos = torch.arange(start, end, device=q.device)
        kv_pos = torch.arange(lo, end, device=q.device)
        out = attend_in_fp32_on_cpu(
            F.scaled_dot_product_attention,
            q.transpose(1, 2),
            self.k[layer, :, lo:end].transpose(1, 2),
            self.v[layer, :, lo:end].transpose(1, 2),
            attn_mask=dense_mask(q_pos, kv_pos, window=window),
            enable_gqa=q.shape[2] != k.shape[2],
        )
        return out.transpose(1, 2)
