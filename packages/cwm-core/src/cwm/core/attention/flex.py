"""FlexAttention with a BlockMask built from the shared mask rule.

On a GPU the attention call is compiled into a fused kernel that skips fully
masked blocks, which is what makes long packed sequences with sliding windows
cheap. On CPU torch runs flex forward only (no backward), unfused: good for
checking, not for training.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

import torch
from torch import Tensor
from torch.nn.attention.flex_attention import BlockMask, create_block_mask, flex_attention

from cwm.core.attention.masks import mask_mod
from cwm.core.errors import CwmError


@functools.cache
def _compiled_flex() -> Any:
    return torch.compile(flex_attention, dynamic=False)


class FlexAttention:
    name = "flex"

    def prepare(self, *, seq_len: int, doc_ids: Tensor | None, window: int | None,
                batch: int, device: Any) -> BlockMask:  # fmt: skip
        return create_block_mask(
            mask_mod(doc_ids, window),
            B=None if doc_ids is None else batch,
            H=None,
            Q_LEN=seq_len,
            KV_LEN=seq_len,
            device=device,
            _compile=torch.device(device).type == "cuda",  # no S x S mask in memory
        )

    def __call__(self, q: Tensor, k: Tensor, v: Tensor, mask: BlockMask) -> Tensor:
        args = (q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        gqa = q.shape[2] != k.shape[2]
        if q.is_cuda:
            out = _compiled_flex()(*args, block_mask=mask, enable_gqa=gqa)
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
