"""The reference backend: torch's scaled_dot_product_attention with a dense boolean mask.

Runs anywhere (CPU training included). Plain causal attention with no
documents and no window in reach uses ``is_causal`` and builds no mask.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from cwm.core.attention.masks import dense_mask


class SdpaAttention:
    name = "sdpa"

    def prepare(
        self, *, seq_len: int, doc_ids: Tensor | None, window: int | None, batch: int, device: Any
    ) -> Tensor | None:
        if doc_ids is None and (window is None or window >= seq_len):
            return None
        pos = torch.arange(seq_len, device=device)
        return dense_mask(pos, pos, window=window, doc_ids=doc_ids)

    def __call__(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None) -> Tensor:
        out = F.scaled_dot_product_attention(
            q.transpose(1, 2),
            k.transpose(1, 2),
            v.transpose(1, 2),
            attn_mask=mask,
            is_causal=mask is None,
            enable_gqa=q.shape[2] != k.shape[2],
        )
        return out.transpose(1, 2)
