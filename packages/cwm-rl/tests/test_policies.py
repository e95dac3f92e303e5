"""The in-process engine policy: logprobs and versions per token, fitted max_tokens,
concurrent episodes batched with the same greedy tokens, weights swapped between steps."""

import asyncio

import msgspec
import pytest

from cwm.core.envs import Sampling
from cwm.core.errors import CwmError
from cwm.core.model import FLAVORS, build_model
from cwm.rl.policies import EnginePolicy, make_policy
from cwm.serve.engine import EngineConfig, LLMEngine

SMALL = msgspec.structs.replace(FLAVORS["debug"], max_seq_len=128)
GREEDY = Sampling(temperature=0.0, max_tokens=12)


@pytest.fixture
def policy():
    engine = LLMEngine(build_model(SMALL, seed=0), config=EngineConfig(kv_cache_mib=8))
    policy = EnginePolicy(engine)
    yield policy
    policy.close()


def contexts(n):
    return [[1000 + 7 * i + j for j in range(5 + i)] for i in range(n)]


def test_actions_carry_logprobs_and_versions_per_token(policy):
    action = asyncio.run(policy.act(contexts(1)[0], GREEDY))
    assert 1 <= len(action.tokens) <= 12
    assert len(action.logprobs) == len(action.tokens) and all(lp <= 0 for lp in action.logprobs)
    assert action.versions == [0] * len(action.tokens)
    assert policy.context_len == 128


def test_max_tokens_fit_the_room_left(policy):
    action = asyncio.run(policy.act(list(range(1, 126)), Sampling(temperature=0, max_tokens=50)))
    assert len(action.tokens) <= 3  # 125 of 128 tokens used
    with pytest.raises(CwmError, match="context is full"):
        asyncio.run(policy.act(list(range(1, 129)), GREEDY))


def test_concurrent_episodes_get_the_tokens_they_would_get_alone(policy):
    async def together():
        return await asyncio.gather(*(policy.act(c, GREEDY) for c in contexts(8)))

    async def alone():
        return [await policy.act(c, GREEDY) for c in contexts(8)]

    assert [a.tokens for a in asyncio.run(together())] == [a.tokens for a in asyncio.run(alone())]


def test_new_weights_apply_between_steps_with_a_new_version(policy):
    other = build_model(SMALL, seed=1).state_dict()

    async def run():
        before = await policy.act(contexts(1)[0], GREEDY)
        version = await policy.update_weights(other)
        after = await policy.act(contexts(1)[0], GREEDY)
        return before, version, after

    before, version, after = asyncio.run(run())
    assert version == 1 and after.versions == [1] * len(after.tokens)
    assert before.tokens != after.tokens  # other weights, other greedy reply


def test_unknown_policy_specs_say_what_exists():
    with pytest.raises(CwmError, match="use oracle, engine:CHECKPOINT or openai:BASE_URL"):
        make_policy("magic")
