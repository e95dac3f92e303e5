"""Attention backends (plugins of kind ``attention``) and the one mask rule they share.

Needs torch. Built-ins: ``sdpa`` (reference, CPU), ``banded`` (SDPA over the keys in
reach of each query block: fast on CPU with windows or packing), ``flex`` (FlexAttention
BlockMask, GPU training; forward on CPU), ``flash`` (flash-attn varlen and
paged kernels, CUDA only).
"""

from cwm.core.attention.base import AttentionBackend
from cwm.core.attention.masks import (
    allowed,
    cu_seqlens,
    dense_mask,
    document_positions,
    document_starts,
    flash_window,
    mask_mod,
)

__all__ = [
    "AttentionBackend",
    "allowed",
    "cu_seqlens",
    "dense_mask",
    "document_positions",
    "document_starts",
    "flash_window",
    "mask_mod",
]
