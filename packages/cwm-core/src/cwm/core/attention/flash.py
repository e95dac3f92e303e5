"""flash-attn kernels (CUDA, bf16/fp16): varlen for packed training, paged for serving.

Packed documents become varlen sequences (``cu_seqlens`` from the doc ids), a
window ``W`` becomes ``window_size=(W - 1, 0)``; both come from the shared mask
module. `paged_attention` wraps ``flash_attn_with_kvcache`` with a block table,
the kernel a paged KV cache (cwm-serve) calls during decoding.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from cwm.core.attention.masks import cu_seqlens, flash_window
from cwm.core.errors import CwmError

HALF = (torch.float16, torch.bfloat16)


def flash_attn() -> Any:
    """The flash_attn module, or a `CwmError` saying why it cannot be used here."""
    try:
        import flash_attn
    except ImportError:
        raise CwmError(
            "attention 'flash' needs the flash-attn package on a CUDA machine "
            "(pip install flash-attn); use attention='sdpa' or 'flex' instead"
        ) from None
    if not torch.cuda.is_available():
        raise CwmError("attention 'flash' needs a CUDA GPU; use attention='sdpa' here")
    return flash_attn


def _check(q: Tensor) -> None:
    if not q.is_cuda or q.dtype not in HALF:
        raise CwmError(
            f"attention 'flash' runs on CUDA tensors in bf16/fp16, got {q.dtype} on {q.device}; "
            "load the model in bfloat16 (load_checkpoint(..., dtype=torch.bfloat16)) "
            "or use attention='sdpa'"
        )


class FlashAttention:
    name = "flash"

    def __init__(self) -> None:
        self.lib = flash_attn()

    def prepare(
        self, *, seq_len: int, doc_ids: Tensor | None, window: int | None, batch: int, device: Any
    ) -> tuple[Tensor | None, int, tuple[int, int]]:
        if doc_ids is None:
            return None, seq_len, flash_window(window)
        offsets, longest = cu_seqlens(doc_ids)
        return offsets, longest, flash_window(window)

    def __call__(
        self, q: Tensor, k: Tensor, v: Tensor, mask: tuple[Any, int, tuple[int, int]]
    ) -> Tensor:
        _check(q)
        offsets, longest, window_size = mask
        if offsets is None:
            return self.lib.flash_attn_func(q, k, v, causal=True, window_size=window_size)
        b, s, h, d = q.shape
        out = self.lib.flash_attn_varlen_func(
            q.reshape(b * s, h, d),
            k.reshape(b * s, k.shape[2], d),
            v.reshape(b * s, v.shape[2], d),
            cu_seqlens_q=offsets,
            cu_seqlens_k=offsets,
            max_seqlen_q=longest,
            max_seqlen_k=longest,
            causal=True,
            window_size=window_size,
        )
        return out.reshape(b, s, h, d)


def paged_attention(
    q: Tensor,
    k_cache: Tensor,
    v_cache: Tensor,
    *,
    cache_seqlens: Tensor,
    block_table: Tensor,
    window: int | None,
    k: Tensor | None = None,
    v: Tensor | None = None,
) -> Tensor:
    """Decode/prefill attention over a paged KV cache.

    ``q [B, S_new, H, D]``; ``k_cache``/``v_cache`` ``[num_blocks, block_size, H_kv, D]``;
    ``block_table [B, max_blocks]`` int32; ``cache_seqlens [B]`` int32 tokens already
    cached. With ``k``/``v`` ``[B, S_new, H_kv, D]`` the kernel writes them into the
    cache first. Queries are aligned to the end of each sequence (causal), and the
    window is the same ``W - 1`` rule as training.
    """
    _check(q)
    return flash_attn().flash_attn_with_kvcache(
        q,
        k_cache,
        v_cache,
        k=k,
        v=v,
        cache_seqlens=cache_seqlens,
        block_table=block_table,
        causal=True,
        window_size=flash_window(window),
    )
