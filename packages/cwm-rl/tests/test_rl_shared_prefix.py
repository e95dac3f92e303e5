"""A group's samples run their common prefix once in the learner (``share_prefix``): the
hidden states, the step and the step of two learner ranks are the plain forward's."""

from __future__ import annotations

import random

import msgspec
import pytest
import torch
from test_rl_learner_ranks import CFG, batch, two_ranks

from cwm.core.model import FLAVORS, build_model
from cwm.core.testing import sdpa_query_dtypes
from cwm.rl.run.learner import Learner, build_policy
from cwm.rl.run.shared_prefix import common_prefixes, shared_hidden_states


@pytest.fixture(scope="module", params=[False, True], ids=["plain", "smear"])
def tiny_model(request):
    config = msgspec.structs.replace(FLAVORS["tiny"], smear=request.param)
    return build_model(config, seed=0).eval()


def rows(prompts: list[int], replies: list[list[int]], seed: int = 0) -> list[list[int]]:
    """Samples of groups: group ``g`` has a random prompt of ``prompts[g]`` tokens and a
    sample of each reply length in ``replies[g]``."""
    rng = random.Random(seed)
    out = []
    for p, lengths in zip(prompts, replies):
        prompt = [rng.randrange(100, 5000) for _ in range(p)]
        out += [prompt + [rng.randrange(100, 5000) for _ in range(r)] for r in lengths]
    return out


def padded(samples: list[list[int]]) -> tuple[torch.Tensor, list[int]]:
    width = max(map(len, samples))
    x = torch.full((len(samples), width), 7)  # any padding value
    for i, s in enumerate(samples):
        x[i, : len(s)] = torch.tensor(s)
    return x, [len(s) for s in samples]


def test_common_prefixes_stop_at_the_first_difference_and_leave_each_sample_a_token():
    x, lengths = padded([[1, 2, 3, 4], [1, 2, 9, 9, 9], [5, 6, 7], [1, 2, 3, 4, 5]])
    assert common_prefixes(x, lengths, [0, 0, 1, 0]) == [2, 2]
    assert common_prefixes(x, lengths, [0, 1, 1, 0]) == [3, 0]  # [1,2,3,4] keeps its 4
    assert common_prefixes(x, lengths, [0, 1, 2, 3]) == [3, 4, 2, 4]


def test_shared_hidden_states_equal_the_plain_forward(tiny_model):
    model = tiny_model
    assert 256 in model.config.layer_windows()  # prompts longer than a window: it is applied
    # groups interleaved, prompts of different lengths, replies of different lengths, a
    # group of one
    samples = rows([300, 40, 20], [[30, 5, 17], [9, 12], [6]])
    order = [0, 3, 1, 5, 2, 4]
    x, lengths = padded([samples[i] for i in order])
    groups = [[0, 0, 0, 1, 1, 2][i] for i in order]
    with torch.no_grad():
        shared = shared_hidden_states(model, x, lengths, groups)
        plain = model.hidden_states(x)
    assert shared is not None and shared.shape == plain.shape
    for i, n in enumerate(lengths):
        torch.testing.assert_close(shared[i, :n], plain[i, :n], rtol=1e-4, atol=1e-4)


def test_under_bf16_autocast_both_forwards_attend_in_fp32(tiny_model):
    """The CPU backend's bf16 autocast: the continuations attend in fp32, as the plain
    forward's banded backend does, so the two stay alike."""
    x, lengths = padded(rows([300, 40], [[30, 5], [9, 12]]))
    autocast = torch.autocast("cpu", dtype=torch.bfloat16)
    with torch.no_grad(), autocast, sdpa_query_dtypes() as seen:
        shared = shared_hidden_states(tiny_model, x, lengths, [0, 0, 1, 1])
        plain = tiny_model.hidden_states(x)
    assert shared is not None and seen and set(seen) == {torch.float32}
    for i, n in enumerate(lengths):
        torch.testing.assert_close(shared[i, :n], plain[i, :n], rtol=0.02, atol=0.02)


def test_samples_with_little_in_common_run_the_plain_forward(tiny_model):
    x, lengths = padded(rows([3, 3], [[40, 40], [40, 40]]))
    assert shared_hidden_states(tiny_model, x, lengths, [0, 0, 1, 1]) is None


def step(share: bool, group=None, tp: int = 1, **changes) -> tuple[dict, dict[str, torch.Tensor]]:
    """One learner step on 4 groups of 2 samples, each group one prompt of 20-40 tokens;
    the positions the first layer ran, in the stats."""
    torch.manual_seed(0)
    cfg = msgspec.structs.replace(
        CFG,
        micro_batch=8,  # a rank's samples in one micro-batch
        micro_batch_padding=1.0,
        share_prefix=share,
        learners=2 if group else 1,
        learner_tp=tp,
        **changes,
    )
    learner = Learner(cfg, build_policy(cfg), group)
    ran: list[int] = []
    learner.model.layers[0].register_forward_pre_hook(
        lambda _, a: ran.append(a[0].shape[:2].numel())
    )
    stats = learner.train(batch(shared_prompt=(20, 40), seed=1))
    return {**stats, "positions": sum(ran)}, learner.weights()


def test_a_step_sharing_prompts_runs_fewer_positions_and_is_the_plain_step():
    plain, plain_weights = step(False)
    shared, shared_weights = step(True)
    # one micro-batch: 8 rows as wide as the longest sample, or each group's prompt once
    # (4 rows, padded to the longest) and 8 rows of replies, padded to the longest
    samples = [s for g in batch(shared_prompt=(20, 40), seed=1) for s in g.samples]
    prompts = [s.action.index(True) for s in samples]
    width = max(len(s.tokens) for s in samples) - 1
    reply = max(len(s.tokens) - 1 - p for s, p in zip(samples, prompts))
    assert plain["positions"] == 8 * width
    assert shared["positions"] == 4 * max(prompts) + 8 * reply < 0.6 * plain["positions"]
    assert shared["trained_tokens"] == plain["trained_tokens"]
    assert abs(shared["loss"] - plain["loss"]) < 1e-5
    assert abs(shared["entropy"] - plain["entropy"]) < 1e-3
    start = build_policy(CFG).state_dict()
    assert max(float((plain_weights[k] - start[k]).abs().max()) for k in start) > 1e-4
    for name, value in shared_weights.items():
        torch.testing.assert_close(value, plain_weights[name], rtol=1e-4, atol=1e-5)
    # the old policy recomputed by the learner, sharing too
    recomputed, _ = step(True, loss_options={"recompute_old": True})
    again, _ = step(False, loss_options={"recompute_old": True})
    assert abs(recomputed["loss"] - again["loss"]) < 1e-5


def shared_step(group, tp: int) -> tuple[dict, dict[str, torch.Tensor]]:
    return step(True, group, tp)


@pytest.mark.parametrize("tp", [1, 2], ids=["fsdp", "tensor-parallel"])
def test_two_learner_ranks_sharing_prompts_take_the_plain_step_of_one(tp):
    whole, alone = step(False)
    results = two_ranks(shared_step, tp)
    for _, stats, weights in results:
        assert abs(stats["loss"] - whole["loss"]) < 1e-5
        # tensor parallel: both ranks run the whole batch; FSDP: each its half
        assert stats["positions"] < whole["positions"] * (0.6 if tp > 1 else 0.3)
        for name, t in alone.items():
            torch.testing.assert_close(torch.from_numpy(weights[name]), t, rtol=1e-4, atol=1e-5)
