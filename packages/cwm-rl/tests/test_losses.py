"""Each option of the policy loss against values computed by hand on small tensors."""

from __future__ import annotations

import math

import pytest
import torch

from cwm.core.config import ConfigError
from cwm.core.plugins import registry
from cwm.rl.losses import LossConfig, group_advantages, policy_loss, summarize, token_weights


def one_token(cfg: LossConfig, ratio: float, adv: float, *, ref: float | None = None):
    """One sample of one token whose behaviour logprob is log(0.5), weight 1."""
    old = torch.tensor([[math.log(0.5)]])
    logp = (old + math.log(ratio)).clone().requires_grad_(True)
    ref_t = None if ref is None else torch.tensor([[math.log(ref)]])
    out = policy_loss(cfg, logp, old, torch.tensor([[adv]]), torch.ones(1, 1), ref_t)
    out.loss.backward()
    return float(out.loss.detach()), float(logp.grad[0, 0]), out.stats


def test_ppo_clips_higher_above_and_lower_below():
    cfg = LossConfig(clip="ppo")
    assert cfg.band == pytest.approx((0.8, 1.28))
    loss, grad, stats = one_token(cfg, 1.5, 1.0)  # above the band with a positive advantage
    assert loss == pytest.approx(-1.28) and grad == 0.0 and stats["clip_high"] == 1
    loss, grad, stats = one_token(cfg, 0.5, -1.0)  # below the band with a negative advantage
    assert loss == pytest.approx(0.8) and grad == 0.0 and stats["clip_low"] == 1
    loss, grad, stats = one_token(cfg, 1.1, 2.0)  # inside: -r A, gradient -r A
    assert loss == pytest.approx(-2.2) and grad == pytest.approx(-2.2)
    assert stats["clip_low"] == stats["clip_high"] == 0
    loss, grad, _ = one_token(cfg, 1.5, -1.0)  # above the band but pushed down: not clipped
    assert loss == pytest.approx(1.5) and grad == pytest.approx(1.5)


def test_eps_options_move_the_band():
    loss, _, _ = one_token(LossConfig(clip="ppo", eps_low=0.1, eps_high=0.1), 1.5, 1.0)
    assert loss == pytest.approx(-1.1)


def test_cispo_keeps_a_gradient_weighted_by_the_clipped_ratio():
    loss, grad, _ = one_token(LossConfig(clip="cispo"), 1.5, 1.0)
    logp = math.log(0.75)
    assert loss == pytest.approx(-1.28 * logp) and grad == pytest.approx(-1.28)
    _, grad, _ = one_token(LossConfig(clip="cispo"), 0.1, -1.0)  # no lower cap by default
    assert grad == pytest.approx(0.1)


def test_reinforce_truncates_the_importance_weight():
    _, grad, _ = one_token(LossConfig(clip="reinforce", tis_cap=2.0), 3.0, 1.0)
    assert grad == pytest.approx(-2.0)
    _, grad, _ = one_token(LossConfig(clip="reinforce", tis_cap=2.0), 0.5, 1.0)
    assert grad == pytest.approx(-0.5)
    _, grad, _ = one_token(LossConfig(clip="reinforce", tis_cap=0), 3.0, 1.0)
    assert grad == pytest.approx(-1.0)


def test_gspo_uses_one_geometric_mean_ratio_per_sample():
    cfg = LossConfig(clip="gspo", eps_low=0.5, eps_high=0.5)
    old = torch.zeros(1, 2)
    logp = torch.tensor([[0.1, 0.3]], requires_grad=True)
    out = policy_loss(cfg, logp, old, torch.ones(1, 2), torch.full((1, 2), 0.5))
    out.loss.backward()
    s = math.exp(0.2)  # exp(mean(0.1, 0.3)) on both tokens
    assert float(out.loss.detach()) == pytest.approx(-s)
    assert logp.grad[0].tolist() == pytest.approx([-0.5 * s, -0.5 * s])
    # with GSPO's own narrow band the same sample is clipped: no gradient
    out = policy_loss(LossConfig(clip="gspo"), logp, old, torch.ones(1, 2), torch.full((1, 2), 0.5))
    assert float(out.loss.detach()) == pytest.approx(-1.0004) and out.stats["clip_high"] == 2


def test_sequence_mask_drops_samples_too_far_off_policy():
    cfg = LossConfig(clip="ppo", seq_mask=1.1)
    old = torch.zeros(2, 2)
    logp = torch.tensor([[0.2, 0.2], [0.05, -0.05]], requires_grad=True)
    out = policy_loss(cfg, logp, old, torch.ones(2, 2), torch.full((2, 2), 0.25))
    out.loss.backward()
    assert out.stats["seq_masked"] == 1
    assert logp.grad[0].tolist() == [0.0, 0.0]  # exp(0.2) > 1.1: masked
    expected = [-0.25 * math.exp(0.05), -0.25 * math.exp(-0.05)]
    assert logp.grad[1].tolist() == pytest.approx(expected)


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("k1", math.log(2)),
        ("k2", 0.5 * math.log(2) ** 2),
        ("k3", 0.5 - 1 + math.log(2)),
    ],
)
def test_kl_estimators(kind, value):
    # policy 0.5, reference 0.25 on the sampled token; r = 1 and A = 0 leave only the KL
    cfg = LossConfig(clip="ppo", kl=kind, kl_coef=0.1)
    loss, _, stats = one_token(cfg, 1.0, 0.0, ref=0.25)
    assert stats["kl"] == pytest.approx(value)
    assert loss == pytest.approx(0.1 * value)


def test_kl_needs_a_coefficient():
    with pytest.raises(ConfigError, match="kl_coef"):
        LossConfig(kl="k3")


def test_group_advantages_normalize_and_mask_zero_variance_groups():
    rewards = torch.tensor([1.0, 0.0, 1.0, 1.0, 3.0, 1.0])
    groups = torch.tensor([0, 0, 1, 1, 2, 2])
    adv, keep = group_advantages(rewards, groups, normalize_std=True)
    s = math.sqrt(0.5)  # unbiased std of (1, 0)
    assert adv.tolist() == pytest.approx(
        [0.5 / s, -0.5 / s, 0, 0, 1 / math.sqrt(2), -1 / math.sqrt(2)], abs=1e-5
    )
    assert keep.tolist() == [True, True, False, False, True, True]
    adv, _ = group_advantages(rewards, groups, normalize_std=False)
    assert adv.tolist() == pytest.approx([0.5, -0.5, 0, 0, 1.0, -1.0])


MASK = torch.tensor([[1, 0, 0], [1, 1, 1], [1, 1, 0], [1, 0, 0]], dtype=torch.bool)
GROUPS = torch.tensor([0, 0, 1, 1])
KEEP = torch.tensor([True, True, True, True])


@pytest.mark.parametrize(
    ("mode", "per_sample"),
    [
        ("token-mean", [1 / 7, 1 / 7, 1 / 7, 1 / 7]),
        ("seq-mean-token-mean", [1 / 4, 1 / 12, 1 / 8, 1 / 4]),
        ("dr-grpo", [1 / 12, 1 / 12, 1 / 12, 1 / 12]),  # divisor: the longest sample (3)
        ("prompt-mean", [1 / 8, 1 / 8, 1 / 6, 1 / 6]),  # 4 tokens in group 0, 3 in group 1
    ],
)
def test_aggregations(mode, per_sample):
    w = token_weights(MASK, KEEP, GROUPS, mode)
    for row, value in enumerate(per_sample):
        assert w[row][MASK[row]].tolist() == pytest.approx([value] * int(MASK[row].sum()))
    assert float(w[~MASK].abs().sum()) == 0


def test_dr_grpo_constant_divisor_and_masked_samples_leave_the_denominators():
    w = token_weights(MASK, KEEP, GROUPS, "dr-grpo", divisor=10)
    assert float(w[0, 0]) == pytest.approx(1 / 40)
    keep = torch.tensor([True, False, True, True])  # sample 1 belongs to a masked group
    w = token_weights(MASK, keep, GROUPS, "token-mean")
    assert float(w[1].sum()) == 0 and float(w[0, 0]) == pytest.approx(1 / 4)


def test_summary_of_importance_weights():
    stats = {
        "tokens": 2,
        "ratio": 3.0,
        "ratio_sq": 5.0,
        "ratio_max": 2.0,
        "clip_low": 0,
        "clip_high": 1,
        "kl": 0.0,
        "seq_masked": 0,
    }
    s = summarize(stats)
    assert s["is_weight_mean"] == 1.5 and s["is_weight_max"] == 2.0
    assert s["is_ess"] == pytest.approx(9 / 10) and s["clip_high_frac"] == 0.5


def test_a_step_that_trained_no_token_reports_no_importance_weights():
    stats = dict.fromkeys(("tokens", "ratio", "ratio_sq", "ratio_max", "clip_low"), 0.0)
    stats |= {"clip_high": 0.0, "kl": 0.0, "seq_masked": 0.0}
    assert summarize(stats) == {"seq_masked": 0.0}  # not a mean ratio of 0, an ESS of 1


def test_losses_are_plugins():
    assert {"ppo", "cispo", "gspo", "reinforce"} <= set(registry("policy_loss").names())
    loss = registry("policy_loss").create("reinforce", tis_cap=4, aggregation="prompt-mean")
    assert loss.config.clip == "reinforce" and loss.config.tis_cap == 4
    with pytest.raises(ConfigError, match="aggregation"):
        registry("policy_loss").create("ppo", aggregation="mean")
