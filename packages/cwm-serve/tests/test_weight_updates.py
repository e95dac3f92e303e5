"""Weights updated between decode steps: in-flight sequences go on, with the new weights."""

from __future__ import annotations

import pytest
import torch
from serve_fixtures import random_prompts, windowed_model

from cwm.core.errors import CwmError
from cwm.core.model import DenseKVCache, greedy
from cwm.serve.engine import EngineConfig, LLMEngine, SamplingParams

PARAMS = SamplingParams(temperature=0, max_tokens=30, ignore_eos=True)


def mixed_reference(model_a, model_b, prompt, before, total):
    """Greedy with model A for ``before`` tokens, then B's weights over the same KV cache."""
    model = windowed_model()
    model.load_state_dict(model_a.state_dict())
    cache = DenseKVCache.for_model(model, 1, len(prompt) + total)
    out = []
    with torch.inference_mode():
        logits = model(torch.tensor([prompt]), cache=cache)
        for k in range(total):
            out.append(int(logits[0, -1].argmax()))
            if k + 1 == before:  # token `before` is the first the new weights compute
                model.load_state_dict(model_b.state_dict())
            if k + 1 < total:
                logits = model(torch.tensor([[out[-1]]]), cache=cache)
    return out


def test_update_mid_generation_keeps_sequences_and_switches_weights():
    a, b = windowed_model(seed=0), windowed_model(seed=1)
    prompt = random_prompts(1, low=24, high=25, seed=21)[0]
    engine = LLMEngine(windowed_model(seed=0), config=EngineConfig(kv_cache_mib=16))
    engine.add_request("old", prompt, PARAMS)
    done = {}
    while len(engine.requests["old"].seqs[0].output_ids) < 10:
        engine.step()
    assert engine.update_weights(b.state_dict()) == 1
    engine.add_request("new", prompt, PARAMS)
    while engine.has_unfinished():
        for out in engine.step():
            if out.finished:
                done[out.request_id] = out.outputs[-1]
    old_tokens = done["old"].token_ids
    assert len(old_tokens) == 30 and done["old"].policy_version == 0
    assert old_tokens == mixed_reference(a, b, prompt, 10, 30)
    assert old_tokens[10:] != greedy(a, torch.tensor([prompt]), 30)[0][10:]
    assert done["old"].versions == [0] * 10 + [1] * 20
    assert done["new"].policy_version == 1 and done["new"].versions == [1] * 30
    assert done["new"].token_ids == greedy(b, torch.tensor([prompt]), 30)[0]


def test_recompute_kv_reruns_in_flight_sequences_under_the_new_weights():
    a, b = windowed_model(seed=0), windowed_model(seed=1)
    prompt = random_prompts(1, low=24, high=25, seed=5)[0]
    engine = LLMEngine(windowed_model(seed=0), config=EngineConfig(kv_cache_mib=16))
    engine.add_request("r", prompt, PARAMS)
    seq = engine.requests["r"].seqs[0]
    while len(seq.output_ids) < 10:
        engine.step()
    first = list(seq.output_ids)
    engine.update_weights(b.state_dict(), recompute_kv=True)
    engine.step()
    assert seq.num_computed == len(prompt) + 10  # every token ran again under B
    while engine.has_unfinished():
        engine.step()
    assert first == greedy(a, torch.tensor([prompt]), 10)[0]
    assert seq.output_ids[10:] == greedy(b, torch.tensor([prompt + first]), 20)[0]
    assert seq.versions == [0] * 10 + [1] * 20
    assert engine.scheduler.num_preemptions == 0


def test_every_token_records_the_version_that_sampled_it_across_two_updates():
    engine = LLMEngine(windowed_model(seed=0), config=EngineConfig(kv_cache_mib=16))
    prompt = random_prompts(1, low=24, high=25, seed=3)[0]
    engine.add_request("r", prompt, PARAMS)
    seq = engine.requests["r"].seqs[0]
    outputs = []
    for update_at, version in ((4, 1), (9, 5)):
        while len(seq.output_ids) < update_at:
            outputs += engine.step()
        cached = seq.num_computed
        engine.update_weights(windowed_model(seed=version).state_dict(), version=version)
        outputs += engine.step()
        assert seq.num_computed == cached + 1  # the cache was kept: only the new token ran
    while engine.has_unfinished():
        outputs += engine.step()
    last = outputs[-1].outputs[-1]
    assert last.versions == [0] * 4 + [1] * 5 + [5] * 21
    assert last.policy_version == 0  # the version the sample started with
    deltas = [v for o in outputs for c in o.outputs for v in c.versions[-len(c.delta_token_ids) :]]
    assert deltas == last.versions


def test_a_mismatched_update_changes_nothing():
    model = windowed_model(seed=0)
    engine = LLMEngine(model, config=EngineConfig(kv_cache_mib=16))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    bad = dict(windowed_model(seed=1).state_dict())
    bad["norm.weight"] = torch.ones(3)
    with pytest.raises(CwmError, match=r"norm\.weight has shape"):
        engine.update_weights(bad)
    partial = {"norm.weight": torch.full_like(before["norm.weight"], 2.0)}
    with pytest.raises(CwmError, match="missing"):
        engine.update_weights(partial)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    engine.update_weights(partial, version=7, strict=False)
    assert torch.equal(model.norm.weight, partial["norm.weight"])
    assert engine.policy_version == 7
