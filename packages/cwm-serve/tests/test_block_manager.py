"""Block accounting: reference counts, prefix hits, and sliding-window freeing."""

from __future__ import annotations

import torch
from serve_fixtures import WINDOWED, random_prompts, windowed_model

from cwm.serve.engine import EngineConfig, LLMEngine, SamplingParams
from cwm.serve.engine.block_manager import BlockManager, KVGroup
from cwm.serve.engine.sampling_params import SamplingParams as SP
from cwm.serve.engine.sequence import FREED, Sequence


def manager(window_aware: bool = True) -> BlockManager:
    groups = [KVGroup((0,), None, 32), KVGroup((1, 2, 3), 16, 32)]
    return BlockManager(groups, 4, window_aware=window_aware)


def grow(bm: BlockManager, seq: Sequence, n: int) -> None:
    bm.append(seq, n)
    seq.num_computed += n
    bm.computed(seq)


def test_local_groups_free_blocks_that_left_the_window_and_global_ones_keep_them():
    bm = manager()
    seq = Sequence("r", 0, list(range(40)), SP())
    grow(bm, seq, 40)  # 10 blocks of 4; window 16: queries from 40 on read keys >= 25
    global_table, local_table = seq.block_tables
    assert FREED not in global_table
    assert local_table[:6] == [FREED] * 6 and FREED not in local_table[6:]
    assert bm.num_free() == [22, 28]
    bm.free(seq)
    assert bm.all_free()


def test_without_window_awareness_nothing_is_freed_early():
    bm = manager(window_aware=False)
    seq = Sequence("r", 0, list(range(40)), SP())
    grow(bm, seq, 40)
    assert bm.num_free() == [22, 22]


def test_a_shared_prefix_is_taken_from_the_cache_and_reference_counted():
    bm = manager()
    first = Sequence("a", 0, list(range(22)), SP())
    grow(bm, first, 22)
    second = Sequence("b", 0, [*range(20), 99, 98, 97], SP())
    k, hits = bm.cached_prefix(second)
    assert k == 5  # blocks 0..4 hold tokens 0..19, shared
    assert hits[0] == first.block_tables[0][:5]
    bm.adopt(second, hits)
    assert second.num_computed == 20
    shared = first.block_tables[0][0]
    assert bm.pools[0].refs[shared] == 2
    bm.free(first)
    assert bm.pools[0].refs[shared] == 1
    bm.free(second)
    assert bm.all_free()
    third = Sequence("c", 0, list(range(30)), SP())  # freed blocks keep their hashes
    assert bm.cached_prefix(third)[0] == 5


def test_window_freeing_halves_kv_bytes_per_token_of_a_3_to_1_model():
    """At 4x the local window, local layers hold about a quarter of the tokens."""
    model = windowed_model()
    window = WINDOWED.local_window
    prompt = random_prompts(1, low=4 * window - 8, high=4 * window - 7, seed=31)[0]
    per_token = {}
    for aware in (False, True):
        engine = LLMEngine(
            model, config=EngineConfig(kv_cache_mib=16, window_aware=aware, block_size=4)
        )
        engine.add_request(None, prompt, SamplingParams(temperature=0, max_tokens=10))
        engine.step()  # prefill: 4 * window - 8 tokens computed
        held, tokens = engine.kv_usage()
        per_token[aware] = held / tokens
        assert tokens == len(prompt)
    layer_token = 2 * WINDOWED.n_kv_heads * WINDOWED.head_dim * torch.float32.itemsize
    assert per_token[False] == 4 * layer_token
    # one global layer keeps everything; three local ones keep a window plus a block or two
    assert per_token[True] < 2.2 * layer_token
