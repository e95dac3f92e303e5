"""The one mask rule and what each backend derives from it."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from cwm.core.attention.masks import (  # noqa: E402
    cu_seqlens,
    dense_mask,
    document_positions,
    flash_window,
    mask_mod,
)


def brute_force(doc: list[int], window: int | None) -> list[list[bool]]:
    n = len(doc)
    return [
        [k <= q and (window is None or k > q - window) and doc[q] == doc[k] for k in range(n)]
        for q in range(n)
    ]


@pytest.mark.parametrize("window", [None, 1, 3, 100])
def test_dense_mask_is_document_causal_with_a_window_of_w_keys(window: int | None) -> None:
    doc = [0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 2, 2]
    pos = torch.arange(len(doc))
    mask = dense_mask(pos, pos, window=window, doc_ids=torch.tensor([doc]))
    assert mask.shape == (1, 1, len(doc), len(doc))
    assert mask[0, 0].tolist() == brute_force(doc, window)
    if window is not None:  # a query deep in a long document sees exactly W keys
        assert int(mask[0, 0, 13].sum()) == min(window, 6)


def test_flex_mask_mod_agrees_with_the_dense_mask() -> None:
    doc = torch.tensor([[0, 0, 1, 1, 1, 1, 2, 2], [5, 5, 5, 5, 5, 5, 5, 5]])
    b, q, k = torch.meshgrid(torch.arange(2), torch.arange(8), torch.arange(8), indexing="ij")
    mod = mask_mod(doc, 3)(b, torch.zeros_like(b), q, k)
    pos = torch.arange(8)
    assert torch.equal(mod, dense_mask(pos, pos, window=3, doc_ids=doc)[:, 0])


def test_cache_queries_use_the_rows_of_the_full_mask() -> None:
    pos = torch.arange(10)
    full = dense_mask(pos, pos, window=4)
    assert torch.equal(dense_mask(pos[7:], pos, window=4), full[:, :, 7:])
    assert torch.equal(dense_mask(pos[7:], pos[4:], window=4), full[:, :, 7:, 4:])


def test_positions_restart_at_each_document() -> None:
    doc = torch.tensor([[3, 3, 3, 7, 7, 9], [1, 1, 1, 1, 1, 1]])
    assert document_positions(doc).tolist() == [[0, 1, 2, 0, 1, 0], [0, 1, 2, 3, 4, 5]]


def test_varlen_offsets_split_rows_and_documents() -> None:
    doc = torch.tensor([[0, 0, 0, 1, 1], [4, 4, 4, 4, 4]])
    offsets, longest = cu_seqlens(doc)
    assert offsets.dtype == torch.int32
    assert offsets.tolist() == [0, 3, 5, 10] and longest == 5


def test_flash_window_is_w_minus_one_to_the_left() -> None:
    assert flash_window(8192) == (8191, 0)
    assert flash_window(None) == (-1, -1)
