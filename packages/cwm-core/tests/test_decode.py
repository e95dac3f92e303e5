"""Incremental decoding through the AttentionCache protocol equals the full forward."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from model_shapes import small_config  # noqa: E402

from cwm.core.errors import CwmError  # noqa: E402
from cwm.core.model import AttentionCache, DenseKVCache, build_model, greedy  # noqa: E402
from cwm.core.model.smear import previous_tokens  # noqa: E402


@pytest.mark.parametrize(
    ("seed", "smear", "copy_dim"),
    [(0, False, 0), (1, False, 0), (2, False, 0), (0, True, 0), (1, True, 8)],
)
def test_token_by_token_decoding_equals_the_full_forward(
    seed: int, smear: bool, copy_dim: int
) -> None:
    config = small_config(seed, smear=smear, copy_dim=copy_dim)
    model = build_model(config, seed=seed)
    tokens = torch.randint(
        0, config.vocab_size, (2, 36), generator=torch.Generator().manual_seed(seed)
    )
    assert tokens.shape[1] > 3 * config.local_window  # decoding runs far past the window
    cache = DenseKVCache.for_model(model, batch_size=2, max_len=36)
    assert isinstance(cache, AttentionCache)
    before = previous_tokens(tokens)
    with torch.no_grad():
        full = model(tokens)
        # prefill, then one token at a time, then a multi-token chunk mid-stream
        chunks = [(0, 7), *((i, i + 1) for i in range(7, 30)), (30, 36)]
        steps = [model(tokens[:, a:b], cache=cache, previous=before[:, a:b]) for a, b in chunks]
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-4, rtol=0)
    assert cache.seq_len == 36


@pytest.mark.parametrize(("smear", "copy_dim"), [(False, 0), (True, 0), (True, 8)])
def test_greedy_decoding_picks_the_full_forward_argmax(smear: bool, copy_dim: int) -> None:
    config = small_config(1, smear=smear, copy_dim=copy_dim)
    model = build_model(config, seed=1)
    prompt = torch.randint(0, config.vocab_size, (2, 6), generator=torch.Generator().manual_seed(2))
    [first, second] = greedy(model, prompt, max_new_tokens=20)
    for row, new in zip(prompt, (first, second)):
        seq = torch.cat([row, torch.tensor(new)])[None]
        with torch.no_grad():
            expected = model(seq[:, :-1])[0, 5:].argmax(-1)
        assert new == expected.tolist()


def test_greedy_stops_at_a_stop_token() -> None:
    model = build_model(small_config(1), seed=1)
    prompt = torch.randint(0, 512, (1, 6), generator=torch.Generator().manual_seed(2))
    [free] = greedy(model, prompt, max_new_tokens=10)
    [stopped] = greedy(model, prompt, max_new_tokens=10, stop_ids={free[3]})
    assert stopped == free[: free.index(free[3]) + 1]


def test_a_full_cache_and_packed_decoding_are_clear_errors() -> None:
    model = build_model(small_config(0), seed=0)
    cache = DenseKVCache.for_model(model, batch_size=1, max_len=4)
    with pytest.raises(CwmError, match="KV cache full"):
        model(torch.zeros(1, 5, dtype=torch.long), cache=cache)
    with pytest.raises(ValueError, match="doc_ids"):
        model(torch.zeros(1, 2, dtype=torch.long), doc_ids=torch.zeros(1, 2), cache=cache)


def test_a_smear_model_decoding_without_the_previous_tokens_is_a_clear_error() -> None:
    model = build_model(small_config(0, smear=True), seed=0)
    cache = DenseKVCache.for_model(model, batch_size=1, max_len=4)
    with pytest.raises(ValueError, match="previous"):
        model(torch.zeros(1, 2, dtype=torch.long), cache=cache)
