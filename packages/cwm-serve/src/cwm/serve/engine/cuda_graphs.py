"""Decode steps replayed as CUDA graphs (one graph per padded batch size).

A decode step has a fixed shape once padded: ``B`` tokens, ``B`` rows of one
query, block tables or gathered blocks of a bounded width. The graphs are
captured over static buffers; a step copies its layout into them and replays.
Padded rows write to and read from the scratch block, and their one visible key
keeps softmax finite. Weight updates copy into the same parameter storage, so
the graphs stay valid.
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


class DecodeGraphs:
    def __init__(self, runner: ModelRunner, max_batch: int):
        self.runner = runner
        self.sizes = batch_sizes(max_batch)
        top, dev, bs = self.sizes[-1], runner.device, runner.block_size
        self.tokens = torch.zeros(1, top, dtype=torch.long, device=dev)
        self.positions = torch.zeros(1, top, dtype=torch.long, device=dev)
        store = runner.store
        self.slots = [
            torch.full((top,), s * bs, dtype=torch.long, device=dev) for s in store.scratch
        ]
        self.widths = []
        for window in runner.windows:  # blocks a decode row may read, at most
            span = runner.max_model_len if window is None else min(window, runner.max_model_len)
            self.widths.append(-(-span // bs) + 1)
        self.blocks = [torch.full((top, w), s, dtype=torch.long, device=dev)
                       for w, s in zip(self.widths, store.scratch)]  # fmt: skip
        self.masks = [torch.zeros(top, 1, 1, w * bs, dtype=torch.bool, device=dev)
                      for w in self.widths]  # fmt: skip
        self.table_width = -(-runner.max_model_len // bs) + 1  # flash reads whole tables
        self.tables = [torch.full((top, self.table_width), s, dtype=torch.int32, device=dev)
                       for s in store.scratch]  # fmt: skip
        self.cached = torch.zeros(top, dtype=torch.int32, device=dev)
        self.hidden = torch.zeros(top, runner.model.config.dim, dtype=runner.dtype, device=dev)
        self.graphs: dict[int, torch.cuda.CUDAGraph] = {}
        self._capture()

    def _layout(self, b: int) -> StepLayout:
        rows = Rows(0, b, 1, [x[:b] for x in self.blocks], [m[:b] for m in self.masks],
                    [t[:b] for t in self.tables], self.cached[:b])  # fmt: skip
        return StepLayout(
            self.tokens[:, :b], self.positions[:, :b], [s[:b] for s in self.slots], [rows]
        )

    def _forward(self, b: int) -> None:
        cache = PagedAttention(self.runner.store, self._layout(b), flash=self.runner.flash)
        out = self.runner.model.hidden_states(
            self.tokens[:, :b], positions=self.positions[:, :b], cache=cache
        )
        self.hidden[:b] = out[0]

    @torch.inference_mode()
    def _capture(self) -> None:
        self._reset(0)
        pool = None
        for b in reversed(self.sizes):
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):
                self._forward(b)  # warm-up outside the graph (allocator, kernels)
            torch.cuda.current_stream().wait_stream(stream)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, pool=pool):
                self._forward(b)
            pool = graph.pool()
            self.graphs[b] = graph
        torch.cuda.synchronize()

    def _reset(self, start: int) -> None:
        """Rows from ``start`` on become padding: scratch slots, one visible key."""
        self.tokens[:, start:] = 0
        self.positions[:, start:] = 0
        self.cached[start:] = 0
        for g, scratch in enumerate(self.runner.store.scratch):
            self.slots[g][start:] = scratch * self.runner.block_size
            self.blocks[g][start:] = scratch
            self.tables[g][start:] = scratch
            self.masks[g][start:] = False
            self.masks[g][start:, 0, 0, 0] = True

    def fits(self, layout: StepLayout) -> bool:
        rows = layout.rows
        return (
            len(rows) == 1
            and rows[0].q_len == 1
            and rows[0].n_rows <= self.sizes[-1]
            and all(b.shape[1] <= w for b, w in zip(rows[0].blocks, self.widths))
            and all(t.shape[1] <= self.table_width for t in rows[0].tables or [])
        )

    def run(self, layout: StepLayout) -> Tensor:
        rows = layout.rows[0]
        b = rows.n_rows
        size = next(s for s in self.sizes if s >= b)
        self._reset(b)
        self.tokens[:, :b] = layout.tokens
        self.positions[:, :b] = layout.positions
        self.cached[:b] = rows.cached if rows.cached is not None else 0
        for g in range(len(self.slots)):
            self.slots[g][:b] = layout.slots[g]
            if rows.tables is not None:
                width = rows.tables[g].shape[1]
                self.tables[g][:b, :width] = rows.tables[g]
                self.tables[g][:b, width:] = self.runner.store.scratch[g]
            else:
                width = rows.blocks[g].shape[1]
                self.blocks[g][:b, :width] = rows.blocks[g]
                self.blocks[g][:b, width:] = self.runner.store.scratch[g]
                self.masks[g][:b] = False
                self.masks[g][:b, :, :, : rows.masks[g].shape[-1]] = rows.masks[g]
        self.graphs[size].replay()
        return self.hidden[:b]
