"""FlexAttention with a BlockMask built from the shared mask rule.

On a GPU the attention call is compiled into a fused kernel that skips fully
masked blocks, which is what makes long packed sequences with sliding windows
cheap, and the block mask is built by a compiled ``create_block_mask`` (no
``S x S`` mask in memory). Both are compiled once, here, so every layer and
every step share one compile cache. On CPU torch runs flex forward only (no
backward), unfused: good for checking, not for training.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import Tensor
from torch.nn.attention.flex_attention import BlockMask, create_block_mask, flex_attention

from cwm.core.attention.masks import mask_mod
from cwm.core.errors import CwmError

# torch.compile is lazy: nothing compiles until the first CUDA call
compiled_flex_attention = torch.compile(flex_attention, dynamic=False)
compiled_create_block_mask = torch.compile(create_block_mask)


def block_mask_builder(device: Any) -> Any:
    """``create_block_mask``, compiled on CUDA (the one kernel path flex has there)."""
    return compiled_create_block_mask if torch.device(device).type == "cuda" else create_block_mask


class FlexAttention:
    name = "flex"

    def prepare(
        self, *, seq_len: int, doc_ids: Tensor | None, window: int | None, batch: int, device: Any
    ) -> BlockMask:
        return block_mask_builder(device)(
            mask_mod(doc_ids, window),
            B=None if doc_ids is None else batch,
            H=None,
            Q_LEN=seq_len,
            KV_LEN=seq_len,
            device=device,
        )

    def __call__(self, q: Tensor, k: Tensor, v: Tensor, mask: BlockMask) -> Tensor:
        args = (q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        gqa = q.shape[2] != k.shape[2]
        if q.is_cuda:
            out = compiled_flex_attention(*args, block_mask=mask, enable_gqa=gqa)
        elif torch.is_grad_enabled() and any(t.requires_grad for t in (q, k, v)):
            raise CwmError(
                "attention 'flex' has no backward on CPU (a torch limitation); "
                "train on CPU with attention='sdpa'"
            )
        else:
            with warnings.catch_warnings():  # "unfused implementation": expected on CPU
                warnings.simplefilter("ignore", UserWarning)
                out = flex_attention(*args, block_mask=mask, enable_gqa=gqa)
        return out.transpose(1, 2)
