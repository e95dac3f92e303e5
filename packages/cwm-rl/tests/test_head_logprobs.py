"""The learner's fused head: target logprobs, entropy and gradients as the plain way."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from cwm.rl.run import head_logprobs
from cwm.rl.run.head_logprobs import fusable, target_logprobs


def plain(head: nn.Linear, hidden: torch.Tensor, targets: torch.Tensor):
    logps = head(hidden).float().log_softmax(-1)
    chosen = logps.gather(1, targets[:, None])[:, 0]
    return chosen, -(logps.exp() * logps).sum(-1).detach()


def run(fn, head, hidden, targets, grad, autocast=False):
    head.zero_grad()
    h = hidden.clone().requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        chosen, entropy = fn(head, h, targets)
    (chosen * grad).sum().backward()
    return chosen.detach(), entropy, h.grad, head.weight.grad.clone()


@pytest.fixture
def case():
    torch.manual_seed(0)
    head = nn.Linear(16, 50, bias=False)
    return head, torch.randn(23, 16), torch.randint(0, 50, (23,)), torch.randn(23)


def test_two_tokens_by_hand():
    head = nn.Linear(2, 3, bias=False)
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]))
    hidden = torch.tensor([[0.0, 0.0], [2.0, 0.0]], requires_grad=True)
    chosen, entropy = target_logprobs(head, hidden, torch.tensor([2, 0]))
    # row 0: logits (0, 0, 0), uniform; row 1: logits (2, 0, 0)
    p = math.exp(2) / (math.exp(2) + 2)
    q = (1 - p) / 2
    assert chosen.tolist() == pytest.approx([-math.log(3), math.log(p)])
    assert entropy.tolist() == pytest.approx([math.log(3), -p * math.log(p) - 2 * q * math.log(q)])
    chosen[1].backward()
    # d log p(0) / d hidden = W^T (onehot(0) - softmax): (1 - p, -q)
    assert hidden.grad[1].tolist() == pytest.approx([1 - p, -q])
    assert hidden.grad[0].tolist() == [0.0, 0.0]


@pytest.mark.parametrize("chunk_rows", [1, 5, 23, 64])
def test_equals_the_plain_head_whatever_the_chunks(case, monkeypatch, chunk_rows):
    head, hidden, targets, grad = case
    monkeypatch.setitem(head_logprobs.CHUNK_ELEMENTS, "cpu", 50 * chunk_rows)
    want = run(plain, head, hidden, targets, grad)
    got = run(target_logprobs, head, hidden, targets, grad)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-6)


def test_autocast_runs_the_matmuls_in_its_dtype(case, monkeypatch):
    head, hidden, targets, grad = case
    monkeypatch.setitem(head_logprobs.CHUNK_ELEMENTS, "cpu", 50 * 5)
    want = run(plain, head, hidden, targets, grad, autocast=True)
    got = run(target_logprobs, head, hidden, targets, grad, autocast=True)
    exact = run(plain, head, hidden, targets, grad)
    assert got[2].dtype == got[3].dtype == torch.float32
    for g, w, e in zip(got, want, exact):
        torch.testing.assert_close(g, w, rtol=2e-2, atol=2e-3)
        # as far from fp32 as autocast's own head, not further
        assert (g - e).norm() <= 1.5 * (w - e).norm() + 1e-6


def test_only_a_plain_whole_head_is_fused():
    assert fusable(nn.Linear(4, 8, bias=False))
    assert not fusable(nn.Linear(4, 8))

    class Swapped(nn.Linear):  # what fp8 or FSDP2's wrapping does to the head's class
        pass

    assert not fusable(Swapped(4, 8, bias=False))


def test_a_learner_step_through_it_is_the_plain_step(monkeypatch):
    from test_rl_shared_prefix import step

    from cwm.rl.run import learner

    fused, fused_weights = step(True)
    monkeypatch.setattr(learner, "fusable", lambda head: False)
    plain, plain_weights = step(True)
    assert abs(fused["loss"] - plain["loss"]) < 1e-6
    assert abs(fused["entropy"] - plain["entropy"]) < 1e-4
    for name, value in fused_weights.items():
        torch.testing.assert_close(value, plain_weights[name], rtol=1e-5, atol=1e-6)


def test_a_second_backward_through_it_says_so(case):
    head, hidden, targets, _ = case
    chosen, _ = target_logprobs(head, hidden.requires_grad_(), targets)
    chosen.sum().backward(retain_graph=True)  # its softmax became the gradient in place
    with pytest.raises(RuntimeError, match="runs backward once"):
        chosen.sum().backward()


def test_a_frozen_head_gets_no_gradient_and_the_hidden_states_theirs(case):
    head, hidden, targets, grad = case
    want = run(plain, head, hidden, targets, grad)
    head.requires_grad_(False).zero_grad()
    h = hidden.clone().requires_grad_()
    chosen, _ = target_logprobs(head, h, targets)
    (chosen * grad).sum().backward()
    assert head.weight.grad is None
    torch.testing.assert_close(h.grad, want[2], rtol=1e-5, atol=1e-6)
