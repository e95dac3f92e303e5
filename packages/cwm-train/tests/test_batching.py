"""Packing and length bucketing, on lengths alone."""

import itertools
import random

from hypothesis import given
from hypothesis import strategies as st

from cwm.train.data.batching import bucket_batches, pack_rows, padding_fraction, pieces, row_length

lengths_st = st.lists(st.integers(1, 300), min_size=1, max_size=60)


@given(lengths_st, st.integers(8, 128))
def test_split_packing_keeps_every_token_once_in_full_rows(lengths, seq_len):
    rows = pack_rows(lengths, seq_len, "split")
    cap = seq_len + 1
    assert all(row_length(r) == cap for r in rows[:-1]) and 0 < row_length(rows[-1]) <= cap
    seen = sorted((slot, s, e) for row in rows for slot, s, e in row)
    for slot, length in enumerate(lengths):  # the pieces of each example tile it exactly
        mine = [(s, e) for sl, s, e in seen if sl == slot]
        assert mine[0][0] == 0 and mine[-1][1] == length
        assert all(a[1] == b[0] for a, b in itertools.pairwise(mine))


@given(lengths_st, st.integers(8, 128))
def test_truncate_packing_places_each_example_once_and_uncut(lengths, seq_len):
    rows = pack_rows(lengths, seq_len, "truncate")
    cap = seq_len + 1
    assert all(row_length(r) <= cap for r in rows)
    placed = sorted((slot, s, e) for row in rows for slot, s, e in row)
    assert placed == [(i, 0, min(n, cap)) for i, n in enumerate(lengths)]
    # first-fit decreasing: no two rows could be merged
    sizes = sorted(row_length(r) for r in rows)
    assert len(sizes) < 2 or sizes[0] + sizes[1] > cap


def test_long_examples_split_into_row_sized_pieces():
    assert pieces(3, 25, 10, "split") == [(3, 0, 10), (3, 10, 20), (3, 20, 25)]
    assert pieces(3, 25, 10, "truncate") == [(3, 0, 10)]


def test_bucketing_cuts_padding_against_random_batches():
    rng = random.Random(0)
    lengths = [int(rng.lognormvariate(5, 1)) + 1 for _ in range(2000)]  # long-tailed, like traces
    rows = [[(i, 0, min(n, 2049))] for i, n in enumerate(lengths)]
    batches, left = bucket_batches(rows, rows_per_batch=8, batch_tokens=0, unit=1)
    assert len(left) < 8 and sum(map(len, batches)) + len(left) == len(rows)
    shuffled = rows[:]
    rng.shuffle(shuffled)
    unsorted = [shuffled[i : i + 8] for i in range(0, len(shuffled) - 7, 8)]
    assert padding_fraction(batches) < 0.1 < 0.5 < padding_fraction(unsorted)


def test_token_budget_batches_hold_more_short_rows():
    rows = [[(i, 0, n)] for i, n in enumerate([1000] * 8 + [100] * 80)]
    batches, _ = bucket_batches(rows, rows_per_batch=8, batch_tokens=4000, unit=2)
    sizes = sorted({len(b) for b in batches})
    assert sizes == [4, 40]  # 4000 // 1000 and 4000 // 100, multiples of unit
    assert all(len(b) * max(row_length(r) for r in b) <= 4000 for b in batches)
