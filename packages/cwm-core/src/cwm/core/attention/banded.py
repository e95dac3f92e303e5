"""SDPA over only the keys in reach: the fast CPU backend for windowed and packed attention.

A dense mask makes SDPA score every query against every key, although a
causal query block never sees later keys, a local layer sees only its last
``W`` keys, and a packed document nothing before its start. This backend cuts
the sequence into query blocks and gives each block only the band of keys any
of its queries may see, with that band's slice of the same mask rule
(`cwm.core.attention.masks`). With a window of 256 at 512 tokens it scores 44%
fewer pairs than the dense mask; at 2048 tokens, 81% fewer.

On CPU, with bf16/fp16 inputs and heads up to 64 wide, it attends in fp32
(`cwm.core.attention.precision`; ``fp32_on_cpu=False`` keeps bf16 kernels).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from cwm.core.attention.masks import dense_mask, document_starts
from cwm.core.attention.precision import attend_in_fp32_on_cpu

Band = tuple[int, int, int, Tensor | None]  # query start, query end, first key, mask


class BandedAttention:
    name = "banded"

    def __init__(self, block: int = 128, fp32_on_cpu: bool = True):
        self.block = block
        self.fp32_on_cpu = fp32_on_cpu

    def prepare(
        self, *, seq_len: int, doc_ids: Tensor | None, window: int | None, batch: int, device: Any
    ) -> list[Band] | None:
        if doc_ids is None and (window is None or window >= seq_len):
            return None  # plain causal: SDPA's is_causal skips the upper triangle itself
        # the earliest document start any row has at each position bounds the keys from below
        first_key = None
        if doc_ids is not None:
            idx = torch.arange(seq_len, device=device).expand_as(doc_ids)
            starts = torch.where(document_starts(doc_ids), idx, torch.zeros_like(idx))
            first_key = starts.cummax(dim=1).values.min(dim=0).values.tolist()
        bands: list[Band] = []
        for q0 in range(0, seq_len, self.block):
            q1 = min(seq_len, q0 + self.block)
            k0 = 0 if window is None else max(0, q0 - window + 1)
            if first_key is not None:
                k0 = max(k0, first_key[q0])
            q_pos = torch.arange(q0, q1, device=device)
            kv_pos = torch.arange(k0, q1, device=device)
            mask = dense_mask(q_pos, kv_pos, window=window, doc_ids=doc_ids)
            bands.append((q0, q1, k0, None if bool(mask.all()) else mask))
        return bands

    def __call__(self, q: Tensor, k: Tensor, v: Tensor, bands: list[Band] | None) -> Tensor:
        if self.fp32_on_cpu:
            return attend_in_fp32_on_cpu(self._attend, q, k, v, bands)
        return self._attend(q, k, v, bands)

    def _attend(self, q: Tensor, k: Tensor, v: Tensor, bands: list[Band] | None) -> Tensor:
        gqa = q.shape[2] != k.shape[2]
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        if bands is None:
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=gqa)
            return out.transpose(1, 2)
        outs = [
            F.scaled_dot_product_attention(
                q[:, :, q0:q1], k[:, :, k0:q1], v[:, :, k0:q1], attn_mask=mask, enable_gqa=gqa
            )
            for q0, q1, k0, mask in bands
        ]
        return torch.cat(outs, dim=2).transpose(1, 2)
