"""The paged KV cache: block storage, and core's `AttentionCache` protocol over it.

Each KV group (layers with the same window) stores ``[layers, blocks + 1, block_size,
kv_heads, head_dim]`` keys and values; the extra last block is scratch that padded
rows of a CUDA graph write to. The model runner describes one step as a `StepLayout`
(flat tokens, rows of queries, the blocks each row reads), and `PagedAttention`
serves the model's ``attend`` calls from it, so the one model definition of
cwm-core runs over the paged cache unchanged.

Rows: the queries of a step are flat ``[1, T]``; a `Rows` entry is a slice of
them that is attended in one call: every decoding sequence together (one query
each), or one prefilling sequence (its chunk). On CPU (and CUDA without
flash-attn) each call gathers the blocks a row may read and runs SDPA with the
mask rule of training; with flash-attn on CUDA it is ``flash_attn_with_kvcache``
on the block table.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from cwm.core.attention.precision import attend_in_fp32_on_cpu
from cwm.serve.engine.block_manager import KVGroup

#: a copy head scores in fp32 (`cwm.core.model.copy`): its keys are kept so
COPY_KEY_DTYPE = torch.float32


class KVStore:
    def __init__(
        self,
        groups: list[KVGroup],
        block_size: int,
        n_kv_heads: int,
        head_dim: int,
        *,
        dtype: torch.dtype,
        device: torch.device,
        copy_dim: int = 0,
    ):
        self.groups, self.block_size = groups, block_size
        shapes = [
            (len(g.layers), g.num_blocks + 1, block_size, n_kv_heads, head_dim) for g in groups
        ]
        self.k = [torch.zeros(s, dtype=dtype, device=device) for s in shapes]
        self.v = [torch.zeros(s, dtype=dtype, device=device) for s in shapes]
        #: layer -> (group, index of the layer inside the group)
        self.where = {
            layer: (g, j) for g, grp in enumerate(groups) for j, layer in enumerate(grp.layers)
        }
        self.scratch = [g.num_blocks for g in groups]
        #: a copy head's key of every token, in the unbounded group's blocks (`copy_group`)
        self.copy_group: int | None = None
        self.copy_keys: Tensor | None = None
        if copy_dim:
            self.copy_group = next(i for i, g in enumerate(groups) if g.window is None)
            blocks = groups[self.copy_group].num_blocks + 1
            shape = (blocks, block_size, copy_dim)
            self.copy_keys = torch.zeros(shape, dtype=COPY_KEY_DTYPE, device=device)

    def block_bytes(self, group: int) -> int:
        """Bytes of keys and values one block of ``group`` holds (all its layers; with the
        copy head's keys in the group that keeps them)."""
        k = self.k[group]
        copy = self.copy_keys if group == self.copy_group else None
        extra = copy[0].numel() * copy.element_size() if copy is not None else 0
        return 2 * k[:, 0].numel() * k.element_size() + extra


@dataclass
class Rows:
    start: int  # first flat token
    n_rows: int
    q_len: int  # queries per row
    #: per group: ``[n_rows, n_blocks]`` blocks each row reads (SDPA path)
    blocks: list[Tensor]
    #: per group: ``[n_rows, 1, q_len, n_blocks * block_size]`` which keys each query sees
    masks: list[Tensor]
    #: flash path: per group ``[n_rows, max_blocks]`` int32 block tables, and cached lengths
    tables: list[Tensor] | None = None
    cached: Tensor | None = None


@dataclass
class StepLayout:
    tokens: Tensor  # [1, T]
    positions: Tensor  # [1, T]
    #: ``[1, T]`` the token before each one in its sequence (-1: none); a smear model's only
    previous: Tensor | None
    #: per group: ``[T]`` flat slot (block * block_size + offset) each new token is written to
    slots: list[Tensor]
    rows: list[Rows]


class PagedAttention:
    """`cwm.core.model.AttentionCache` over a `KVStore` for one step."""

    def __init__(self, store: KVStore, layout: StepLayout, *, flash: bool = False):
        self.store, self.layout, self.flash = store, layout, flash

    def positions(self, n_new: int) -> Tensor:
        return self.layout.positions

    def attend(self, layer: int, q: Tensor, k: Tensor, v: Tensor, *, window: int | None) -> Tensor:
        g, j = self.store.where[layer]
        k_cache, v_cache = self.store.k[g][j], self.store.v[g][j]  # [blocks, bs, H_kv, D]
        if self.flash:
            return self._flash(g, k_cache, v_cache, q, k, v, window)
        flat_k = k_cache.view(-1, *k_cache.shape[2:])
        flat_v = v_cache.view(-1, *v_cache.shape[2:])
        flat_k.index_copy_(0, self.layout.slots[g], k[0])
        flat_v.index_copy_(0, self.layout.slots[g], v[0])
        out = torch.empty_like(q)
        for rows in self.layout.rows:
            n, s, end = rows.n_rows, rows.q_len, rows.start + rows.n_rows * rows.q_len
            keys = k_cache[rows.blocks[g]].flatten(1, 2)  # [n, blocks * bs, H_kv, D]
            values = v_cache[rows.blocks[g]].flatten(1, 2)
            o = attend_in_fp32_on_cpu(  # a bf16 engine on CPU: bf16 SDPA kernels are slower
                F.scaled_dot_product_attention,
                q[0, rows.start : end].view(n, s, *q.shape[2:]).transpose(1, 2),
                keys.transpose(1, 2),
                values.transpose(1, 2),
                attn_mask=rows.masks[g],
                enable_gqa=q.shape[2] != k.shape[2],
            )
            out[0, rows.start : end] = o.transpose(1, 2).reshape(n * s, *q.shape[2:])
        return out

    def _flash(
        self,
        g: int,
        k_cache: Tensor,
        v_cache: Tensor,
        q: Tensor,
        k: Tensor,
        v: Tensor,
        window: int | None,
    ) -> Tensor:
        from cwm.core.attention.flash import paged_attention

        out = torch.empty_like(q)
        for rows in self.layout.rows:
            n, s, end = rows.n_rows, rows.q_len, rows.start + rows.n_rows * rows.q_len
            shape = (n, s)
            assert rows.tables is not None and rows.cached is not None
            out[0, rows.start : end] = paged_attention(
                q[0, rows.start : end].view(*shape, *q.shape[2:]),
                k_cache,
                v_cache,
                k=k[0, rows.start : end].view(*shape, *k.shape[2:]),
                v=v[0, rows.start : end].view(*shape, *v.shape[2:]),
                cache_seqlens=rows.cached,
                block_table=rows.tables[g],
                window=window,
            ).reshape(n * s, *q.shape[2:])
        return out
