"""The loss of a step does not depend on how its batch is split: two gloo ranks with two
accumulation micro-batches each give the gradient of one process with the whole batch."""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from cwm.core.testing import free_port
from cwm.rl.losses import LossConfig, group_advantages, policy_loss, token_weights

MODES = ["token-mean", "seq-mean-token-mean", "dr-grpo", "prompt-mean"]


def batch():
    """8 samples of up to 5 tokens in 4 groups, random lengths, rewards and features."""
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(8, 5, 4, generator=g)
    tokens = torch.randint(0, 6, (8, 5), generator=g)
    lengths = torch.tensor([1, 5, 3, 2, 4, 5, 1, 3])
    mask = torch.arange(5)[None] < lengths[:, None]
    groups = torch.arange(8) // 2
    rewards = torch.tensor([1.0, 0.0, 2.0, 1.0, 1.0, 1.0, 0.0, 3.0])  # group 2 has no variance
    old = torch.log_softmax(torch.randn(8, 5, 6, generator=g), -1).gather(2, tokens[..., None])[
        ..., 0
    ]
    return feats, tokens, mask, groups, rewards, old


def gradient(mode: str, rows: list[list[int]], world: int) -> torch.Tensor:
    """This rank's gradient (averaged over ranks, as FSDP does) for its micro-batches ``rows``."""
    torch.manual_seed(1)
    policy = nn.Linear(4, 6)
    feats, tokens, mask, groups, rewards, old = batch()
    adv, keep = group_advantages(rewards, groups, normalize_std=True)
    weights = token_weights(mask, keep, groups, mode)  # over the global batch
    cfg = LossConfig(clip="ppo", aggregation=mode, kl="k3", kl_coef=0.05)
    for micro in rows:
        logits = policy(feats[micro])
        logp = torch.log_softmax(logits, -1).gather(2, tokens[micro][..., None])[..., 0]
        ref = logp.detach() - 0.1
        a = adv[micro][:, None].expand_as(logp)
        out = policy_loss(cfg, logp, old[micro], a, weights[micro], ref)
        (out.loss * world).backward()  # undo the ranks' averaging: the loss is a global sum
    grad = torch.cat([p.grad.flatten() for p in policy.parameters()])
    if dist.is_initialized():
        dist.all_reduce(grad)
        grad /= world
    return grad


def worker(rank: int, port: int, queue) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    mine = list(range(rank, 8, 2))
    out = {mode: gradient(mode, [mine[:1], mine[1:]], 2) for mode in MODES}
    if rank == 0:
        queue.put({k: v.tolist() for k, v in out.items()})
    dist.destroy_process_group()


@pytest.fixture(scope="module")
def two_ranks():
    port = free_port()
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=worker, args=(r, port, queue)) for r in range(2)]
    for p in procs:
        p.start()
    result = queue.get(timeout=120)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    return result


@pytest.mark.parametrize("mode", MODES)
def test_two_ranks_and_accumulation_match_one_process(two_ranks, mode):
    single = gradient(mode, [list(range(8))], 1)
    assert single.abs().sum() > 0
    assert two_ranks[mode] == pytest.approx(single.tolist(), rel=1e-5, abs=1e-7)
