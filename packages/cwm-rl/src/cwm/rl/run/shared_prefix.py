"""The learner's forward over samples that begin alike (a group's prompt): the common
prefix runs once, every continuation attends to its keys and values, and the gradient
through them sums over the continuations.

A group of 4 samples of a 1,259-token prompt and 192-token replies runs 2,027 positions
instead of 5,804. The hidden states equal the plain forward's within float rounding:
the same mask rule (causal, the layer's window), the same positions. The two passes use
the model's `AttentionCache` seam, so any model of cwm-core runs them (eagerly).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from cwm.core.attention.masks import allowed
from cwm.core.attention.precision import attend_in_fp32_on_cpu
from cwm.core.model import Transformer
from cwm.core.model.smear import previous_tokens

#: share only when the two passes run at most this share of the plain forward's positions
WORTH_IT = 0.75


def common_prefixes(inputs: Tensor, lengths: list[int], owner: list[int]) -> list[int]:
    """For each prefix row (``owner``: the prefix row of each sample, 0..G-1), the length
    its samples have in common, at most their shortest but one (each keeps a token of its
    own)."""
    out: list[int] = []
    for g in range(max(owner) + 1):
        rows = [i for i, o in enumerate(owner) if o == g]
        n = min(lengths[i] for i in rows) - 1
        first = inputs[rows[0], :n]
        for i in rows[1:]:
            differ = (inputs[i, :n] != first[:n]).nonzero()
            n = int(differ[0, 0]) if len(differ) else n
        out.append(max(n, 0))
    return out


class _Prefixes:
    """The first pass: the prefixes ``[G, P]`` (right-padded), causal, through the model's
    own attention backend; keeps each layer's keys and values for the second."""

    def __init__(self, model: Transformer, rows: int, length: int, device: torch.device):
        self.backend, self.rows, self.length, self.device = model.backend, rows, length, device
        self.pos = torch.arange(length, device=device)
        self.masks: dict[int | None, Any] = {}
        self.k: dict[int, Tensor] = {}
        self.v: dict[int, Tensor] = {}

    def positions(self, n_new: int) -> Tensor:
        return self.pos[None].expand(self.rows, n_new)

    def attend(self, layer: int, q: Tensor, k: Tensor, v: Tensor, *, window: int | None) -> Tensor:
        self.k[layer], self.v[layer] = k, v
        if window not in self.masks:
            self.masks[window] = self.backend.prepare(
                seq_len=self.length,
                doc_ids=None,
                window=window,
                batch=self.rows,
                device=self.device,
            )
        return self.backend(q, k, v, self.masks[window])


class _Continuations:
    """The second pass: each sample's tokens after its prefix ``[N, R]``, at positions
    ``start + j``; they see their prefix's keys (its real ones) and their own, causally.
    A windowed layer attends only to the prefix keys some query's window reaches."""

    def __init__(self, prefixes: _Prefixes, owner: Tensor, start: Tensor, length: int):
        self.prefixes, self.owner, self.first = prefixes, owner, int(start.min())
        p = prefixes.pos
        self.q_pos = start[:, None] + torch.arange(length, device=start.device)  # [N, R]
        self.kv_pos = torch.cat([p[None].expand(len(start), -1), self.q_pos], 1)
        own = torch.ones_like(self.q_pos, dtype=torch.bool)
        self.real = torch.cat([p[None] < start[:, None], own], 1)[:, None, :]
        self.masks: dict[int | None, tuple[int, Tensor]] = {}

    def positions(self, n_new: int) -> Tensor:
        return self.q_pos

    def mask(self, window: int | None) -> tuple[int, Tensor]:
        """The first prefix key any query can see, and the mask ``[N, 1, R, keys]`` from it."""
        if window not in self.masks:
            lo = 0 if window is None else max(0, self.first + 1 - window)
            kv = self.kv_pos[:, lo:]
            seen = allowed(self.q_pos[:, :, None], kv[:, None, :], window=window)
            self.masks[window] = lo, (seen & self.real[:, :, lo:])[:, None]
        return self.masks[window]

    def attend(self, layer: int, q: Tensor, k: Tensor, v: Tensor, *, window: int | None) -> Tensor:
        lo, mask = self.mask(window)
        keys = torch.cat([self.prefixes.k[layer][self.owner, lo:], k], 1)
        values = torch.cat([self.prefixes.v[layer][self.owner, lo:], v], 1)
        out = attend_in_fp32_on_cpu(  # as the banded backend of the plain forward does
            F.scaled_dot_product_attention,
            q.transpose(1, 2),
            keys.transpose(1, 2),
            values.transpose(1, 2),
            attn_mask=mask,
            enable_gqa=q.shape[2] != k.shape[2],
        )
        return out.transpose(1, 2)


def shared_hidden_states(
    model: Transformer, inputs: Tensor, lengths: list[int], groups: list[int]
) -> Tensor | None:
    """The final hidden states ``[N, T, dim]`` of ``inputs [N, T]`` (row ``i`` real for
    ``lengths[i]`` tokens; the rest are any value), the samples of each group (equal
    ``groups`` ids) sharing their common prefix. None when sharing would not run at most
    `WORTH_IT` of the positions: call the plain forward then."""
    device = inputs.device
    labels = sorted(set(groups), key=groups.index)
    owner = [labels.index(g) for g in groups]
    start = common_prefixes(inputs, lengths, owner)
    n, t = inputs.shape
    p_len = max(max(start), 1)
    r_len = max(lengths[i] - start[o] for i, o in enumerate(owner))
    if len(labels) * p_len + n * r_len > WORTH_IT * n * t:
        return None
    first = torch.stack([inputs[owner.index(g), :p_len] for g in range(len(labels))])
    owner_t = torch.tensor(owner, device=device)
    start_t = torch.tensor(start, device=device)[owner_t]
    # each sample's tokens after its prefix (positions past the row's end repeat its last)
    cols = (start_t[:, None] + torch.arange(r_len, device=device)).clamp(max=t - 1)
    rest = inputs.gather(1, cols)
    before = inputs.gather(1, (cols - 1).clamp(min=0)).masked_fill(cols == 0, -1)
    prefixes = _Prefixes(model, len(labels), p_len, device)
    h_first = model.hidden_states(first, cache=prefixes, previous=previous_tokens(first))
    h_rest = model.hidden_states(
        rest, cache=_Continuations(prefixes, owner_t, start_t, r_len), previous=before
    )
    # row i, position j: its prefix's state before start, its own after
    j = torch.arange(t, device=device)[None]
    mine = (j - start_t[:, None]).clamp(0, r_len - 1)
    index = torch.where(
        j < start_t[:, None],
        owner_t[:, None] * p_len + j.clamp(max=p_len - 1),
        len(labels) * p_len + torch.arange(n, device=device)[:, None] * r_len + mine,
    )
    flat = torch.cat([h_first.flatten(0, 1), h_rest.flatten(0, 1)])
    return flat[index]
