"""Sampling: temperature, top-k/top-p, seeds, stops, logprobs and n > 1."""

from __future__ import annotations

import pytest
import torch
from serve_fixtures import random_prompts, windowed_model

from cwm.core.errors import CwmError
from cwm.core.model import greedy
from cwm.core.tokenizer import Tokenizer
from cwm.serve.engine import EngineConfig, LLMEngine, SamplingParams
from cwm.serve.engine.sampler import _draw


@pytest.fixture(scope="module")
def model():
    return windowed_model()


@pytest.fixture
def engine(model):
    return LLMEngine(model, config=EngineConfig(kv_cache_mib=16))


def outputs(engine, prompts, params):
    return [o.outputs for o in engine.generate(prompts, params, progress=False)]


PROMPT = random_prompts(1, low=20, high=21, seed=11)[0]


def test_top_k_1_and_a_tiny_top_p_are_greedy(engine, model):
    want = greedy(model, torch.tensor([PROMPT]), 20)[0]
    for params in (
        SamplingParams(top_k=1, max_tokens=20, ignore_eos=True),
        SamplingParams(top_p=1e-6, max_tokens=20, ignore_eos=True, seed=1),
    ):
        assert outputs(engine, [PROMPT], params)[0][0].token_ids == want


def test_draws_follow_the_distribution_and_never_pick_a_masked_token():
    probs = torch.tensor([0.5, 0.0, 0.3, 0.2, 0.0])
    n = 20_000
    draws = _draw(probs.repeat(n, 1), [torch.Generator().manual_seed(0)] * n)
    freq = torch.bincount(draws, minlength=5) / n
    assert freq[1] == 0 and freq[4] == 0
    assert torch.allclose(freq, probs, atol=0.015)  # about 4 standard deviations
    one_hot = torch.eye(4)[[0, 3]]  # all the mass on the first token, then on the last
    assert _draw(one_hot.repeat(500, 1), [None] * 1000).tolist() == [0, 3] * 500


def test_a_seed_gives_the_same_sample_whatever_else_is_in_the_batch(engine):
    params = SamplingParams(temperature=1.5, max_tokens=24, seed=123, ignore_eos=True)
    alone = outputs(engine, [PROMPT], params)[0][0].token_ids
    others = SamplingParams(temperature=1.0, max_tokens=30, ignore_eos=True)
    rids = [engine.add_request(None, p, others) for p in random_prompts(5, seed=12)]
    crowded = outputs(engine, [PROMPT], params)[0][0].token_ids
    assert crowded == alone
    assert all(r not in engine.requests for r in rids)  # finished alongside


def test_n_samples_differ_and_are_reproducible_with_a_seed(engine):
    params = SamplingParams(temperature=1.0, max_tokens=16, n=3, seed=7, ignore_eos=True)
    first = [c.token_ids for c in outputs(engine, [PROMPT], params)[0]]
    again = [c.token_ids for c in outputs(engine, [PROMPT], params)[0]]
    assert first == again and len(first) == 3
    assert len({tuple(t) for t in first}) == 3
    assert [c.index for c in outputs(engine, [PROMPT], params)[0]] == [0, 1, 2]


def test_stop_token_ids_keep_the_token_and_end_the_text_before_it(engine, model):
    want = greedy(model, torch.tensor([PROMPT]), 20)[0]
    stop = want[6]
    out = outputs(
        engine, [PROMPT], SamplingParams(temperature=0, max_tokens=20, stop_token_ids=[stop])
    )[0][0]
    cut = want.index(stop)
    assert out.token_ids == want[: cut + 1] and out.finish_reason == "stop"
    assert out.text == Tokenizer().decode(want[:cut])


def test_stop_strings_cut_the_text(engine, model):
    tok = Tokenizer()
    want = greedy(model, torch.tensor([PROMPT]), 20)[0]
    full = tok.decode(want)
    stop = full[len(full) // 2 : len(full) // 2 + 3]
    out = outputs(engine, [PROMPT], SamplingParams(temperature=0, max_tokens=20, stop=[stop]))
    choice = out[0][0]
    assert choice.finish_reason == "stop"
    assert choice.text == full[: full.index(stop)]


def test_streamed_deltas_add_up_to_the_text_and_hold_back_a_partial_stop(engine, model):
    tok = Tokenizer()
    full = tok.decode(greedy(model, torch.tensor([PROMPT]), 30)[0])
    stop = full[10:14]
    rid = engine.add_request(
        None, PROMPT, SamplingParams(temperature=0, max_tokens=30, stop=[stop])
    )
    deltas = []
    while engine.has_unfinished():
        for out in engine.step():
            assert out.request_id == rid
            deltas.append(out.outputs[0].delta_text)
            assert stop not in "".join(deltas)
    assert "".join(deltas) == full[: full.index(stop)]


def test_logprobs_are_the_model_distribution(engine, model):
    out = outputs(engine, [PROMPT], SamplingParams(temperature=0, max_tokens=5, logprobs=3))
    choice = out[0][0]
    ids = torch.tensor([PROMPT + choice.token_ids])
    with torch.inference_mode():
        full = model(ids)[0].float().log_softmax(-1)
    for k, lp in enumerate(choice.logprobs):
        row = full[len(PROMPT) - 1 + k]
        assert lp.token == choice.token_ids[k]
        assert lp.logprob == pytest.approx(row[lp.token].item(), abs=1e-4)
        assert [t for t, _ in lp.top] == row.topk(3).indices.tolist()
        assert lp.top[0][0] == lp.token  # greedy picks the best one


def test_bad_parameters_are_refused():
    for bad, match in [
        ({"temperature": -1}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"n": 0}, "n must"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"stop": [""]}, "stop strings"),
    ]:
        with pytest.raises(CwmError, match=match):
            SamplingParams(**bad)
