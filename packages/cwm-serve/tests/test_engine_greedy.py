"""The engine decodes exactly like cwm-core's reference `greedy`, token for token:
alone, many at once, in chunks, from the prefix cache, and under preemption."""

from __future__ import annotations

import copy

import msgspec
import pytest
import torch
from serve_fixtures import WINDOWED, random_prompts, windowed_model

from cwm.core.errors import CwmError
from cwm.core.model import build_model, greedy
from cwm.core.testing import sdpa_query_dtypes
from cwm.serve.engine import EngineConfig, LLMEngine, SamplingParams

GREEDY = SamplingParams(temperature=0, max_tokens=40, ignore_eos=True)


@pytest.fixture(
    scope="module", params=[(False, 0), (True, 0), (True, 16)], ids=["plain", "smear", "copy"]
)
def model(request):
    smear, copy_dim = request.param
    return windowed_model(smear=smear, copy_dim=copy_dim)


def reference(model, prompts, max_tokens=40):
    return [greedy(model, torch.tensor([p]), max_tokens)[0] for p in prompts]


def run(engine, prompts, params=GREEDY):
    return [o.outputs[0].token_ids for o in engine.generate(prompts, params, progress=False)]


def test_one_sequence_across_the_local_window(model):
    prompt = random_prompts(1, low=40, high=41)
    engine = LLMEngine(model, config=EngineConfig(kv_cache_mib=16))
    assert run(engine, prompt) == reference(model, prompt)  # 80 tokens, window 16
    assert engine.blocks.all_free()


def test_concurrent_sequences_of_different_lengths(model):
    prompts = random_prompts(12)
    engine = LLMEngine(model, config=EngineConfig(kv_cache_mib=16, max_num_seqs=8))
    assert run(engine, prompts) == reference(model, prompts)
    assert engine.blocks.all_free()


def test_a_bf16_engine_attends_in_fp32_on_cpu_and_scores_as_its_model(model):
    """bf16 weights and KV; attention in fp32 (`cwm.core.attention.precision`), and the
    logprobs of what it decodes are the bf16 model's own forward's, within bf16's step."""
    low = copy.deepcopy(model).to(torch.bfloat16)
    prompts = random_prompts(4, seed=7)
    engine = LLMEngine(low, config=EngineConfig(kv_cache_mib=16))
    params = SamplingParams(temperature=0, max_tokens=24, ignore_eos=True, logprobs=0)
    with sdpa_query_dtypes() as seen:
        outs = engine.generate(prompts, params, progress=False)
    assert seen and set(seen) == {torch.float32}
    for prompt, out in zip(prompts, outs):
        choice = out.outputs[0]
        with torch.inference_mode():
            logits = low(torch.tensor([prompt + choice.token_ids]))[0].float()
        expected = logits.log_softmax(-1)[len(prompt) - 1 : -1]
        expected = expected.gather(1, torch.tensor(choice.token_ids)[:, None])[:, 0]
        got = torch.tensor([lp.logprob for lp in choice.logprobs])
        torch.testing.assert_close(got, expected, atol=0.03, rtol=0)


def test_chunked_prefill(model):
    prompts = random_prompts(4, low=70, high=100, seed=1)
    config = EngineConfig(kv_cache_mib=16, max_num_batched_tokens=8)  # chunks of <= 8 tokens
    engine = LLMEngine(model, config=config)
    assert run(engine, prompts) == reference(model, prompts)


def test_preemption_by_recompute(model):
    prompts = random_prompts(8, low=20, high=60, seed=2)
    config = EngineConfig(num_blocks=8, block_size=16, max_model_len=128, prefix_caching=False)
    engine = LLMEngine(model, config=config)
    assert run(engine, prompts) == reference(model, prompts)
    assert engine.scheduler.num_preemptions > 0
    assert engine.blocks.all_free()


def test_preemption_with_prefix_caching_and_window_freeing(model):
    prompts = random_prompts(8, low=20, high=60, seed=3)
    prompts += [p[:30] + q for p, q in zip(prompts[:4], random_prompts(4, seed=4))]
    config = EngineConfig(num_blocks=17, block_size=8, max_model_len=128, max_num_batched_tokens=24)
    engine = LLMEngine(model, config=config)
    assert run(engine, prompts) == reference(model, prompts)
    assert engine.scheduler.num_preemptions > 0
    assert engine.blocks.all_free()


def test_prefix_cache_reuses_blocks_and_keeps_outputs(model):
    shared = random_prompts(1, low=64, high=65, seed=5)[0]
    prompts = [shared + tail for tail in random_prompts(4, low=3, high=9, seed=6)]
    engine = LLMEngine(model, config=EngineConfig(kv_cache_mib=16))
    first = run(engine, prompts[:1])
    rest = run(engine, prompts[1:])
    assert first + rest == reference(model, prompts)
    # a copy head's keys are cached with the KV, in the blocks of the unbounded layers
    assert engine.scheduler.num_prefix_hit_tokens >= 3 * 64


def test_a_copy_head_keeps_its_keys_when_every_layer_has_a_window():
    """The head points over every earlier token: its keys get blocks of their own, never
    freed, when each layer's window is shorter than the context."""
    config = msgspec.structs.replace(WINDOWED, global_window=32, copy_dim=16)
    model = build_model(config, seed=0).eval()
    engine = LLMEngine(model, config=EngineConfig(kv_cache_mib=16, max_model_len=256))
    assert [(g.layers, g.window) for g in engine.groups][-1] == ((), None)
    prompts = [*random_prompts(3, low=40, high=80, seed=8), [7]]  # [7]: nothing to copy
    assert run(engine, prompts) == reference(model, prompts)
    assert engine.blocks.all_free()


def test_the_pools_fit_kv_cache_mib_whatever_the_windows():
    """A windowed group whose cap is above the even split gets what the budget gave it
    (it once got its cap: 45 MiB of pools for these 16)."""
    for global_window, copy_dim in ((2048, 16), (2048, 0), (32, 16)):
        config = msgspec.structs.replace(
            WINDOWED, global_window=global_window, copy_dim=copy_dim, max_seq_len=4096
        )
        engine = LLMEngine(build_model(config).eval(), config=EngineConfig(kv_cache_mib=16))
        held = [
            g.num_blocks * engine.runner.store.block_bytes(i) for i, g in enumerate(engine.groups)
        ]
        assert sum(held) <= 16 * 2**20, (global_window, copy_dim, held)


def test_window_aware_and_plain_caches_decode_alike(model):
    prompts = random_prompts(6, low=30, high=60, seed=7)
    plain = LLMEngine(model, config=EngineConfig(kv_cache_mib=16, window_aware=False))
    aware = LLMEngine(model, config=EngineConfig(kv_cache_mib=16, window_aware=True))
    assert run(plain, prompts) == run(aware, prompts)


def test_requests_the_context_cannot_hold_are_refused(model):
    engine = LLMEngine(model, config=EngineConfig(kv_cache_mib=16, max_model_len=64))
    with pytest.raises(CwmError, match="exceed the context of 64"):
        engine.add_request(None, list(range(60)), SamplingParams(max_tokens=10))
    with pytest.raises(CwmError, match="empty"):
        engine.add_request(None, [], GREEDY)
    with pytest.raises(CwmError, match="token ids must be in"):
        engine.add_request(None, [10**6], GREEDY)


def test_abort_frees_the_blocks_at_once(model):
    engine = LLMEngine(model, config=EngineConfig(kv_cache_mib=16))
    rid = engine.add_request(None, random_prompts(1, low=50, high=51)[0], GREEDY)
    for _ in range(3):
        engine.step()
    assert not engine.blocks.all_free()
    engine.abort(rid)
    assert engine.blocks.all_free() and not engine.has_unfinished()


def test_a_request_with_many_samples_does_not_starve_a_later_one(model):
    # 2 slots; the first request asks for 6 samples: the second request gets the next
    # slot that frees up instead of waiting for all six (admission by fewest running)
    engine = LLMEngine(model, config=EngineConfig(kv_cache_mib=16, max_num_seqs=2))
    prompt = random_prompts(1, low=10, high=11)[0]
    engine.add_request(
        "many", prompt, SamplingParams(temperature=0, max_tokens=5, n=6, ignore_eos=True)
    )
    engine.step()  # both slots go to "many"
    engine.add_request("late", prompt, SamplingParams(temperature=0, max_tokens=5, ignore_eos=True))
    finished_at: dict[str, int] = {}
    steps = 0
    while engine.has_unfinished():
        steps += 1
        for out in engine.step():
            if out.finished:
                finished_at[out.request_id] = steps
    # "late" runs alongside the second pair of "many"'s samples, not after all three pairs
    assert finished_at["late"] < finished_at["many"]
    assert engine.blocks.all_free()


def test_a_seed_the_generator_cannot_take_is_refused():
    with pytest.raises(CwmError, match=r"seed must be in \[0, 2\*\*63\)"):
        SamplingParams(seed=2**70)
    with pytest.raises(CwmError, match="seed"):
        SamplingParams(seed=-1)
    SamplingParams(seed=2**63 - 1, n=4)  # seed + sample index wraps inside the range
