"""Turns a scheduled batch into flat tensors and runs the model over the paged cache.

The tokens of a step are one flat row ``[1, T]`` with explicit positions, so
sequences of any lengths, prefill chunks and single decode tokens, share one
forward of the cwm-core model. Prefilling sequences come first, each one a row
of queries of its own; the decoding sequences follow as one row group of one
query each. Only the last token of a sequence whose step reaches its end is
put through the output head.
"""

from __future__ import annotations

import torch
from torch import Tensor

from cwm.core.attention.masks import allowed
from cwm.core.model import Transformer
from cwm.serve.engine.block_manager import KVGroup, first_block
from cwm.serve.engine.paged_cache import KVStore, PagedAttention, Rows, StepLayout
from cwm.serve.engine.sequence import FREED, Sequence


def flash_available(device: torch.device, dtype: torch.dtype) -> bool:
    if device.type != "cuda" or dtype not in (torch.float16, torch.bfloat16):
        return False
    try:
        import flash_attn  # noqa: F401
    except ImportError:
        return False
    return True


class ModelRunner:
    def __init__(
        self,
        model: Transformer,
        groups: list[KVGroup],
        block_size: int,
        *,
        cuda_graphs: bool = True,
        max_graph_batch: int = 64,
        max_model_len: int = 4096,
    ):
        self.model = model
        weight = model.output.weight
        self.device, self.dtype = weight.device, weight.dtype
        cfg = model.config
        self.block_size = block_size
        self.store = KVStore(
            groups,
            block_size,
            cfg.n_kv_heads,
            cfg.head_dim,
            dtype=self.dtype,
            device=self.device,
            copy_dim=cfg.copy_dim,
        )
        self.windows = [g.window for g in groups]
        self.flash = flash_available(self.device, self.dtype)
        self.max_model_len = max_model_len
        self.graphs = None
        # a copy head reads each sequence's keys, which the captured graphs do not hold
        if cuda_graphs and self.device.type == "cuda" and model.copy_head is None:
            from cwm.serve.engine.cuda_graphs import DecodeGraphs

            self.graphs = DecodeGraphs(self, max_graph_batch)

    # -- layout ------------------------------------------------------------------

    def rows(self, seqs: list[Sequence], start: int, q_len: int) -> Rows:
        """The attention rows of ``seqs`` (each with ``q_len`` new tokens)."""
        bs, dev = self.block_size, self.device
        computed = torch.tensor([s.num_computed for s in seqs], device=dev)
        q_pos = computed[:, None] + torch.arange(q_len, device=dev)  # [n, q_len]
        blocks, masks, tables = [], [], []
        for g, window in enumerate(self.windows):
            scratch = self.store.scratch[g]
            if self.flash:
                width = max(len(s.block_tables[g]) for s in seqs)
                tables.append(
                    torch.tensor(
                        [
                            [scratch if b == FREED else b for b in s.block_tables[g]]
                            + [scratch] * (width - len(s.block_tables[g]))
                            for s in seqs
                        ],
                        dtype=torch.int32,
                        device=dev,
                    )
                )
                continue
            first = [first_block(window, s.num_computed, bs) for s in seqs]
            last = [(s.num_computed + q_len - 1) // bs for s in seqs]
            width = max(b - a + 1 for a, b in zip(first, last))
            rows = [s.block_tables[g][a : b + 1] for s, a, b in zip(seqs, first, last)]
            blocks.append(
                torch.tensor([r + [scratch] * (width - len(r)) for r in rows], device=dev)
            )
            k_pos = torch.tensor(first, device=dev)[:, None] * bs + torch.arange(
                width * bs, device=dev
            )
            masks.append(allowed(q_pos[:, :, None], k_pos[:, None, :], window=window)[:, None])
        cached = computed.to(torch.int32) if self.flash else None
        return Rows(start, len(seqs), q_len, blocks, masks, tables or None, cached)

    def layout(self, seqs: list[Sequence]) -> tuple[StepLayout, list[Sequence], list[int]]:
        """The step's layout, the sequences that sample a token, and their flat indexes."""
        prefill = [s for s in seqs if s.num_scheduled > 1]
        decode = [s for s in seqs if s.num_scheduled == 1]
        bs = self.block_size
        tokens: list[int] = []
        positions: list[int] = []
        previous: list[int] = []
        smear = self.model.config.smear  # only a smear model reads the previous tokens
        slots: list[list[int]] = [[] for _ in self.windows]
        samplers, sample_at, rows = [], [], []
        for seq in prefill + decode:
            c, n = seq.num_computed, seq.num_scheduled
            if n > 1:
                rows.append(self.rows([seq], len(tokens), n))
            tokens += seq.token_ids[c : c + n]
            if smear:
                previous += seq.token_ids[c - 1 : c + n - 1] if c else [-1, *seq.token_ids[: n - 1]]
            positions += range(c, c + n)
            for g, table in enumerate(seq.block_tables):
                slots[g] += [table[p // bs] * bs + p % bs for p in range(c, c + n)]
            if c + n == len(seq):
                samplers.append(seq)
                sample_at.append(len(tokens) - 1)
        if decode:
            rows.append(self.rows(decode, len(tokens) - len(decode), 1))
        dev = self.device
        layout = StepLayout(
            tokens=torch.tensor([tokens], device=dev),
            positions=torch.tensor([positions], device=dev),
            previous=torch.tensor([previous], device=dev) if smear else None,
            slots=[torch.tensor(s, device=dev) for s in slots],
            rows=rows,
        )
        return layout, samplers, sample_at

    # -- running -----------------------------------------------------------------

    @torch.inference_mode()
    def run(self, seqs: list[Sequence]) -> tuple[list[Sequence], Tensor]:
        """One forward over the scheduled sequences: (the ones that sample, their logits)."""
        layout, samplers, sample_at = self.layout(seqs)
        if self.graphs is not None and self.graphs.fits(layout):
            hidden = self.graphs.run(layout)
        else:
            cache = PagedAttention(self.store, layout, flash=self.flash)
            hidden = self.model.hidden_states(
                layout.tokens, positions=layout.positions, cache=cache, previous=layout.previous
            )
            if self.model.copy_head is not None:
                return samplers, self._copy_log_probs(layout, hidden[0], samplers, sample_at)
            hidden = hidden[0, sample_at]
        return samplers, self.model.output(hidden).float()

    def _copy_log_probs(
        self, layout: StepLayout, hidden: Tensor, samplers: list[Sequence], sample_at: list[int]
    ) -> Tensor:
        """A copy-head model's log-probabilities (`cwm.core.model.copy`): the head's key of
        each token goes into its slot of the blocks that keep them (so a cached prefix has
        its keys), and the samplers point over their own tokens' keys, all in one call."""
        head, store, bs, dev = self.model.copy_head, self.store, self.block_size, self.device
        assert store.copy_keys is not None and store.copy_group is not None
        g = store.copy_group
        store.copy_keys.view(-1, store.copy_keys.shape[-1]).index_copy_(
            0, layout.slots[g], head.keys(hidden)
        )
        logits = self.model.output(hidden[sample_at])
        if not samplers:
            return logits.float()
        # sampler r at position i: candidates are tokens 1..i, keyed by the states before them
        seen = [len(seq) - 1 for seq in samplers]
        width = -(-max(seen) // bs) or 1
        scratch = store.scratch[g]  # padding: masked out
        tables = [seq.block_tables[g][: -(-i // bs)] for seq, i in zip(samplers, seen)]
        blocks = torch.tensor([t + [scratch] * (width - len(t)) for t in tables], device=dev)
        keys = store.copy_keys[blocks].flatten(1, 2)  # [n, width * bs, d]
        span = keys.shape[1]
        tokens = torch.tensor(
            [seq.token_ids[1 : i + 1] + [0] * (span - i) for seq, i in zip(samplers, seen)],
            device=dev,
        )
        allowed = (
            torch.arange(span, device=dev)[None, None, :]
            < torch.tensor(seen, device=dev)[:, None, None]
        )
        mixed = head.mix(logits[:, None], hidden[sample_at][:, None], keys, tokens, allowed)
        return mixed[:, 0]
