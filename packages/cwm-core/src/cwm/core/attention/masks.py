"""The one attention mask rule, and what each backend derives from it.

A query at index ``q`` sees a key at index ``k`` when all hold:

- causal: ``k <= q``;
- window ``W`` (if set): ``q - W < k``, so ``W`` keys including itself
  (flash-attn's ``window_size=(W - 1, 0)``);
- same document: packed documents never attend across a boundary.

Documents are given as ``doc_ids[B, S]``, contiguous runs of equal ids (what
packing produces). Indices are positions in the packed row, so within a
document they differ exactly as the token positions do.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


def allowed(
    q_idx: Tensor,
    kv_idx: Tensor,
    *,
    window: int | None,
    q_doc: Tensor | None = None,
    kv_doc: Tensor | None = None,
) -> Tensor:
    """The rule on (broadcastable) index tensors: True where the query may see the key."""
    keep = kv_idx <= q_idx
    if window is not None:
        keep = keep & (q_idx - kv_idx < window)
    if q_doc is not None and kv_doc is not None:
        keep = keep & (q_doc == kv_doc)
    return keep


def mask_mod(doc_ids: Tensor | None, window: int | None) -> Callable[..., Tensor]:
    """The rule as a FlexAttention ``mask_mod(b, h, q_idx, kv_idx)``."""
    if doc_ids is None:

        def causal_window(b: Tensor, h: Tensor, q_idx: Tensor, kv_idx: Tensor) -> Tensor:
            return allowed(q_idx, kv_idx, window=window)

        return causal_window

    def document_causal_window(b: Tensor, h: Tensor, q_idx: Tensor, kv_idx: Tensor) -> Tensor:
        return allowed(
            q_idx, kv_idx, window=window, q_doc=doc_ids[b, q_idx], kv_doc=doc_ids[b, kv_idx]
        )

    return document_causal_window


def dense_mask(
    q_pos: Tensor,
    kv_pos: Tensor,
    *,
    window: int | None,
    doc_ids: Tensor | None = None,
) -> Tensor:
    """A boolean mask ``[B or 1, 1, len(q_pos), len(kv_pos)]`` for SDPA.

    ``q_pos`` and ``kv_pos`` are 1-D indices in the row (with a KV cache the
    queries are the last positions). ``doc_ids[B, S]``, when given, is indexed
    by both.
    """
    q = q_pos[:, None]
    kv = kv_pos[None, :]
    if doc_ids is None:
        return allowed(q, kv, window=window)[None, None]
    q_doc = doc_ids[:, q_pos][:, :, None]
    kv_doc = doc_ids[:, kv_pos][:, None, :]
    return allowed(q[None], kv[None], window=window, q_doc=q_doc, kv_doc=kv_doc)[:, None]


def document_starts(doc_ids: Tensor) -> Tensor:
    """``[B, S]`` bool: True where a document starts (first column included)."""
    starts = torch.ones_like(doc_ids, dtype=torch.bool)
    starts[:, 1:] = doc_ids[:, 1:] != doc_ids[:, :-1]
    return starts


def document_positions(doc_ids: Tensor) -> Tensor:
    """Positions that restart at 0 at each document start: ``[B, S]`` int64."""
    idx = torch.arange(doc_ids.shape[1], device=doc_ids.device).expand_as(doc_ids)
    start = torch.where(document_starts(doc_ids), idx, torch.zeros_like(idx))
    return idx - start.cummax(dim=1).values


def cu_seqlens(doc_ids: Tensor) -> tuple[Tensor, int]:
    """flash-attn varlen boundaries of the flattened ``[B * S]`` tokens: every
    document of every row is one sequence. Returns (int32 offsets, longest length)."""
    flat_starts = document_starts(doc_ids).flatten().nonzero().flatten()
    total = torch.tensor([doc_ids.numel()], device=doc_ids.device)
    offsets = torch.cat([flat_starts, total])
    return offsets.to(torch.int32), int((offsets[1:] - offsets[:-1]).max())


def flash_window(window: int | None) -> tuple[int, int]:
    """flash-attn ``window_size`` for a causal window of ``W`` keys: ``(W - 1, 0)``."""
    return (-1, -1) if window is None else (window - 1, 0)
