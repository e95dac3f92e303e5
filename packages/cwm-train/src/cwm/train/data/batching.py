"""Rows and batches from example lengths: packing and length bucketing.

Works on lengths and piece descriptors only, never on token ids, so a window
of examples is planned cheaply and the plan is a pure function of its inputs
(what makes the data position resumable).

A row is a list of pieces ``(slot, start, end)``: tokens ``start:end`` of the
``slot``-th example of the window. A row holds at most ``seq_len + 1`` tokens
(inputs are the first ``seq_len``, targets the last ``seq_len``).

- `pack_rows`: several examples per row, attention kept inside each one
  (``truncate``: first-fit decreasing, an example is never cut except to the row
  size, the gaps are padding; ``split``: examples are concatenated and cut at
  row ends, no padding).
- `bucket_batches`: one example per row; rows of similar length are batched
  together so padding to the longest row of a batch is small.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Piece = tuple[int, int, int]  # (slot in the window, start, end)
Row = list[Piece]


def row_length(row: Row) -> int:
    return sum(end - start for _, start, end in row)


def pieces(slot: int, length: int, row_tokens: int, long: str) -> list[Piece]:
    """An example as row-sized pieces: the first ``row_tokens`` only, or all of it in cuts."""
    if long == "truncate" or length <= row_tokens:
        return [(slot, 0, min(length, row_tokens))]
    return [(slot, s, min(s + row_tokens, length)) for s in range(0, length, row_tokens)]


def pack_rows(lengths: Sequence[int], seq_len: int, long: str) -> list[Row]:
    """Pack the window's examples into rows of at most ``seq_len + 1`` tokens."""
    cap = seq_len + 1
    if long == "split":
        rows: list[Row] = [[]]
        room = cap
        for slot, length in enumerate(lengths):
            start = 0
            while start < length:
                take = min(room, length - start)
                rows[-1].append((slot, start, start + take))
                start += take
                room -= take
                if room == 0:
                    rows.append([])
                    room = cap
        return [r for r in rows if r]
    # first-fit decreasing: few, well-filled rows, no example cut in the middle
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    rows, rooms = [], []
    for slot in order:
        piece = pieces(slot, lengths[slot], cap, "truncate")[0]
        size = piece[2] - piece[1]
        for r, room in enumerate(rooms):
            if size <= room:
                rows[r].append(piece)
                rooms[r] -= size
                break
        else:
            rows.append([piece])
            rooms.append(cap - size)
    for row in rows:
        row.sort()  # window order inside a row
    return rows


def bucket_batches(
    rows: list[Row], *, rows_per_batch: int, batch_tokens: int, unit: int
) -> tuple[list[list[Row]], list[Row]]:
    """Batches of one-example rows of similar length, and the rows left over.

    Rows are sorted longest first and cut into consecutive runs: ``rows_per_batch``
    rows each, or, with ``batch_tokens``, as many as fit that budget at the run's
    longest length (a multiple of ``unit``, at least one ``unit``).
    """
    order = sorted(rows, key=lambda r: (-row_length(r), r))
    batches, i = [], 0
    while i < len(order):
        n = rows_per_batch
        if batch_tokens:
            fit = batch_tokens // max(1, row_length(order[i]))
            n = max(unit, fit // unit * unit)
        if i + n > len(order):
            break
        batches.append(order[i : i + n])
        i += n
    return batches, order[i:]


def padding_fraction(batches: Sequence[Sequence[Row]]) -> float:
    """Share of the batches' token slots that are padding (each batch padded to its longest row)."""
    real = sum(row_length(r) for b in batches for r in b)
    total = sum(len(b) * max(row_length(r) for r in b) for b in batches if b)
    return 0.0 if total == 0 else 1.0 - real / total


def shuffled(items: list, rng: np.random.Generator) -> list:
    return [items[i] for i in rng.permutation(len(items))]
