"""Decode steps replayed as CUDA graphs (one graph per padded batch size and key span).

A decode step has a fixed shape once padded: ``B`` tokens, ``B`` rows of one
query, block tables or gathered blocks of a bounded width. The graphs are
captured over static buffers; a step copies its layout into them and replays.
Padded rows write to and read from the scratch block, and their one visible key
keeps softmax finite. Weight updates copy into the same parameter storage, so
the graphs stay valid.

The gathered (SDPA) path reads every block of its width whatever the real
lengths, so one width sized to ``max_model_len`` would make a global layer of
the 1b flavor gather about 1 GB of K and V per step at batch 64. Graphs are
therefore captured for a few key spans (`span_buckets`), and a step replays the
narrowest that holds its longest sequence. flash-attn reads only the cached
lengths, so its path has one span.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from cwm.serve.engine.paged_cache import PagedAttention, Rows, StepLayout

if TYPE_CHECKING:
    from cwm.serve.engine.model_runner import ModelRunner


def batch_sizes(max_batch: int) -> list[int]:
    return sorted({b for b in (1, 2, 4, 8, *range(16, max_batch + 1, 16)) if b <= max_batch})


def span_buckets(max_len: int, *, smallest: int = 256, ratio: int = 4, count: int = 4) -> list[int]:
    """Key spans to capture, ascending: ``max_len``, then each ``ratio`` times shorter,
    ``count`` at most and none under ``smallest``. A step gathers at most ``ratio``
    times the keys its longest sequence needs (beyond the smallest span)."""
    spans = [max_len]
    while len(spans) < count and spans[-1] // ratio >= smallest:
        spans.append(spans[-1] // ratio)
    return spans[::-1]


def gather_widths(span: int, windows: list[int | None], block_size: int) -> list[int]:
    """Blocks a decode row of a sequence of at most ``span`` tokens reads, per KV group
    (one more than the span covers: the span may start inside a block)."""
    return [-(-(span if w is None else min(w, span)) // block_size) + 1 for w in windows]


class DecodeGraphs:
    def __init__(self, runner: ModelRunner, max_batch: int, *, spans: list[int] | None = None):
        self.runner = runner
        self.sizes = batch_sizes(max_batch)
        if spans is None:
            spans = [runner.max_model_len] if runner.flash else span_buckets(runner.max_model_len)
        self.spans = spans
        top, dev, bs = self.sizes[-1], runner.device, runner.block_size
        store = runner.store
        self.tokens = torch.zeros(1, top, dtype=torch.long, device=dev)
        self.positions = torch.zeros(1, top, dtype=torch.long, device=dev)
        self.previous = torch.full((1, top), -1, dtype=torch.long, device=dev)
        self.slots = [
            torch.full((top,), s * bs, dtype=torch.long, device=dev) for s in store.scratch
        ]
        #: per span, per group: blocks each row gathers, and which of their keys it sees
        self.widths = [gather_widths(span, runner.windows, bs) for span in spans]
        self.blocks = [
            [
                torch.full((top, w), s, dtype=torch.long, device=dev)
                for w, s in zip(widths, store.scratch)
            ]
            for widths in self.widths
        ]
        self.masks = [
            [torch.zeros(top, 1, 1, w * bs, dtype=torch.bool, device=dev) for w in widths]
            for widths in self.widths
        ]
        self.table_width = -(-runner.max_model_len // bs) + 1  # flash reads whole tables
        self.tables = [
            torch.full((top, self.table_width), s, dtype=torch.int32, device=dev)
            for s in store.scratch
        ]
        self.cached = torch.zeros(top, dtype=torch.int32, device=dev)
        self.hidden = torch.zeros(top, runner.model.config.dim, dtype=runner.dtype, device=dev)
        self.graphs: dict[tuple[int, int], torch.cuda.CUDAGraph] = {}  # (batch, span index)
        self._capture()

    def _layout(self, b: int, span: int) -> StepLayout:
        rows = Rows(
            0,
            b,
            1,
            [x[:b] for x in self.blocks[span]],
            [m[:b] for m in self.masks[span]],
            [t[:b] for t in self.tables],
            self.cached[:b],
        )
        return StepLayout(
            self.tokens[:, :b],
            self.positions[:, :b],
            self.previous[:, :b],
            [s[:b] for s in self.slots],
            [rows],
        )

    def _forward(self, b: int, span: int) -> None:
        cache = PagedAttention(self.runner.store, self._layout(b, span), flash=self.runner.flash)
        out = self.runner.model.hidden_states(
            self.tokens[:, :b],
            positions=self.positions[:, :b],
            cache=cache,
            previous=self.previous[:, :b],
        )
        self.hidden[:b] = out[0]

    @torch.inference_mode()
    def _capture(self) -> None:
        for span in range(len(self.spans)):
            self._reset(0, span)
        pool = None
        for span in reversed(range(len(self.spans))):
            for b in reversed(self.sizes):
                stream = torch.cuda.Stream()
                stream.wait_stream(torch.cuda.current_stream())
                with torch.cuda.stream(stream):
                    self._forward(b, span)  # warm-up outside the graph (allocator, kernels)
                torch.cuda.current_stream().wait_stream(stream)
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph, pool=pool):
                    self._forward(b, span)
                pool = graph.pool()
                self.graphs[b, span] = graph
        torch.cuda.synchronize()

    def _reset(self, start: int, span: int) -> None:
        """Rows from ``start`` on become padding: scratch slots, one visible key."""
        self.tokens[:, start:] = 0
        self.positions[:, start:] = 0
        self.previous[:, start:] = -1
        self.cached[start:] = 0
        for g, scratch in enumerate(self.runner.store.scratch):
            self.slots[g][start:] = scratch * self.runner.block_size
            self.tables[g][start:] = scratch
            self.blocks[span][g][start:] = scratch
            mask = self.masks[span][g]
            mask[start:] = False
            mask[start:, 0, 0, 0] = True

    def span_for(self, rows: Rows) -> int | None:
        """The narrowest captured span whose widths hold every row's blocks (None: none)."""
        for i, widths in enumerate(self.widths):
            if all(b.shape[1] <= w for b, w in zip(rows.blocks, widths)):
                return i
        return None

    def fits(self, layout: StepLayout) -> bool:
        rows = layout.rows
        return (
            len(rows) == 1
            and rows[0].q_len == 1
            and rows[0].n_rows <= self.sizes[-1]
            and self.span_for(rows[0]) is not None
            and all(t.shape[1] <= self.table_width for t in rows[0].tables or [])
        )

    def run(self, layout: StepLayout) -> Tensor:
        rows = layout.rows[0]
        b = rows.n_rows
        size = next(s for s in self.sizes if s >= b)
        span = self.span_for(rows)
        assert span is not None, "call fits() first"
        self._reset(b, span)
        self.tokens[:, :b] = layout.tokens
        self.positions[:, :b] = layout.positions
        if layout.previous is not None:
            self.previous[:, :b] = layout.previous
        self.cached[:b] = rows.cached if rows.cached is not None else 0
        for g in range(len(self.slots)):
            self.slots[g][:b] = layout.slots[g]
            if rows.tables is not None:
                width = rows.tables[g].shape[1]
                self.tables[g][:b, :width] = rows.tables[g]
                self.tables[g][:b, width:] = self.runner.store.scratch[g]
            else:
                blocks, mask = self.blocks[span][g], self.masks[span][g]
                width = rows.blocks[g].shape[1]
                blocks[:b, :width] = rows.blocks[g]
                blocks[:b, width:] = self.runner.store.scratch[g]
                mask[:b] = False
                mask[:b, :, :, : rows.masks[g].shape[-1]] = rows.masks[g]
        self.graphs[size, span].replay()
        return self.hidden[:b]
