"""The training batches: a weighted mixture of sources, planned a window at a time.

Every rank plans the same global batches (a pure function of the seed and the
data position) and takes its own rows, so data parallelism needs no
communication and the position is a few integers:

- source order: each source is read in a fresh permutation every epoch,
  ``rng(seed, source, epoch)``;
- window ``w`` draws ``window`` examples, each from a source chosen with
  probability proportional to its weight (``rng(seed, w)``), packs or buckets
  them into rows (`cwm.train.data.batching`) and cuts batches, in an order
  shuffled by the same ``rng(seed, w)`` (pack: the rows; bucket: the batches of
  similar-length rows); rows that do not fill a batch carry over into the next
  window;
- the position (`state_dict`) is the window, what each source had consumed and
  the carried rows at its start, and the batches already taken from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from cwm.train.config import DataConfig
from cwm.train.data.batching import Row, bucket_batches, pack_rows, pieces, row_length, shuffled
from cwm.train.data.sources import Source

IGNORE = -100  # label of a position that is not a training target


@dataclass
class Batch:
    """Rows ``[B, S]``: input ids, labels (`IGNORE` where nothing is trained), document
    ids (None when each row holds one example) and where the inputs are padding."""

    inputs: Tensor
    labels: Tensor
    doc_ids: Tensor | None
    padding: Tensor

    @property
    def targets(self) -> int:
        return int((self.labels != IGNORE).sum())

    @property
    def tokens(self) -> int:
        """Input tokens that are data, not padding."""
        return int((~self.padding).sum())

    def part(self, k: int, parts: int) -> Batch:
        """The ``k``-th of ``parts`` equal slices of the rows."""
        n = self.inputs.shape[0] // parts
        sl = slice(k * n, (k + 1) * n)
        doc = None if self.doc_ids is None else self.doc_ids[sl]
        return Batch(self.inputs[sl], self.labels[sl], doc, self.padding[sl])


class Loader:
    def __init__(
        self,
        sources: Sequence[Source],
        weights: Sequence[float],
        config: DataConfig,
        *,
        seed: int,
        unit: int = 1,
    ):
        """``unit``: a batch's row count is a multiple of it (data-parallel ranks x
        accumulation micro-batches)."""
        if config.batch_size % unit:
            raise ValueError(f"data.batch_size {config.batch_size} is not a multiple of {unit}")
        self.sources = list(sources)
        self.p = np.asarray(weights, dtype=np.float64) / float(sum(weights))
        self.config, self.seed, self.unit = config, seed, unit
        self._start: dict[str, Any] = {"window": 0, "consumed": [0] * len(sources), "carry": []}
        self._taken = 0
        self._plan: tuple[list[list[Row]], list[tuple[int, int]], dict[str, Any]] | None = None
        self.slots = [0, 0]  # (padding, all) input slots of the batches produced

    # -- position ------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {**self._start, "taken": self._taken}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._start = {
            "window": int(state["window"]),
            "consumed": [int(c) for c in state["consumed"]],
            "carry": [[tuple(int(v) for v in p) for p in row] for row in state["carry"]],
        }
        self._taken, self._plan = int(state["taken"]), None

    @property
    def padding_fraction(self) -> float:
        return self.slots[0] / self.slots[1] if self.slots[1] else 0.0

    # -- planning ------------------------------------------------------------------

    def _order(self, src: int, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, src, epoch]).permutation(len(self.sources[src]))

    def _plan_window(self) -> tuple[list[list[Row]], list[tuple[int, int]], dict[str, Any]]:
        """(batches, the window's examples as (source, index), the position after it)."""
        start, cfg = self._start, self.config
        rng = np.random.default_rng([self.seed, 1 << 20, start["window"]])
        examples: list[tuple[int, int]] = []
        carry: list[Row] = []
        for row in start["carry"]:  # carried pieces are (source, index, start, end)
            carry.append([])
            for src, i, s, e in row:
                examples.append((src, i))
                carry[-1].append((len(examples) - 1, s, e))
        first = len(examples)
        consumed = list(start["consumed"])
        for src in rng.choice(len(self.sources), size=cfg.window, p=self.p).tolist():
            epoch, i = divmod(consumed[src], len(self.sources[src]))
            examples.append((src, int(self._order(src, epoch)[i])))
            consumed[src] += 1
        lengths = [int(self.sources[s].lengths[i]) for s, i in examples[first:]]
        if cfg.mode == "pack":
            fresh = pack_rows(lengths, cfg.seq_len, cfg.long)
            rows = carry + [[(slot + first, s, e) for slot, s, e in r] for r in fresh]
            # first-fit decreasing leaves rows sorted by fill: served in that order, the
            # loss and tokens/s would swing with the window; a seeded shuffle stays resumable
            rows = shuffled(rows, rng)
            n = len(rows) // cfg.batch_size * cfg.batch_size
            batches = [rows[i : i + cfg.batch_size] for i in range(0, n, cfg.batch_size)]
            left = rows[n:]
        else:
            cap = cfg.seq_len + 1
            fresh = [
                [p]
                for slot, n_tok in enumerate(lengths, first)
                for p in pieces(slot, n_tok, cap, cfg.long)
            ]
            batches, left = bucket_batches(
                carry + fresh,
                rows_per_batch=cfg.batch_size,
                batch_tokens=cfg.batch_tokens,
                unit=self.unit,
            )
            batches = shuffled(batches, rng)
        after = {
            "window": start["window"] + 1,
            "consumed": consumed,
            "carry": [[(*examples[slot], s, e) for slot, s, e in row] for row in left],
        }
        return batches, examples, after

    # -- batches -------------------------------------------------------------------

    def next_batch(self) -> Batch:
        while True:
            if self._plan is None:
                self._plan = self._plan_window()
            batches, examples, after = self._plan
            if self._taken < len(batches):
                self._taken += 1
                return self._tensors(batches[self._taken - 1], examples)
            self._start, self._taken, self._plan = after, 0, None

    def _tensors(self, rows: list[Row], examples: list[tuple[int, int]]) -> Batch:
        packed = self.config.mode == "pack"
        lengths = [row_length(row) for row in rows]
        width = self.config.seq_len + 1 if packed else max(lengths)
        tokens = np.zeros((len(rows), width), dtype=np.int64)
        trained = np.zeros((len(rows), width), dtype=np.bool_)
        doc = np.zeros((len(rows), width), dtype=np.int64)
        for r, row in enumerate(rows):
            at = 0
            for d, (slot, s, e) in enumerate(row):
                src, i = examples[slot]
                ids, mask = self.sources[src].example(i)
                tokens[r, at : at + e - s] = ids[s:e]
                trained[r, at : at + e - s] = mask[s:e]
                doc[r, at : at + e - s] = d
                at += e - s
            doc[r, at:] = len(row)  # padding is a document of its own, never a target
        same_doc = doc[:, 1:] == doc[:, :-1]
        labels = np.where(trained[:, 1:] & same_doc, tokens[:, 1:], IGNORE)
        padding = np.arange(width - 1)[None, :] >= np.asarray(lengths)[:, None]
        self.slots[0] += int(padding.sum())
        self.slots[1] += padding.size
        return Batch(
            inputs=torch.from_numpy(tokens[:, :-1].copy()),
            labels=torch.from_numpy(labels),
            doc_ids=torch.from_numpy(doc[:, :-1].copy()) if packed else None,
            padding=torch.from_numpy(padding),
        )
