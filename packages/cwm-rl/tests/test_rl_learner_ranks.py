"""Several learner ranks (FSDP2, or tensor parallel, over gloo): two ranks take the step one
learner takes on the whole batch, and both end with its full weights (within 1e-5: the gradients are summed
in another order; Adam's eps is large so that its first step, nearly sign(grad), does not
blow up the rounding of near-zero gradients)."""

from __future__ import annotations

import random

import msgspec
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from cwm.core.testing import free_port
from cwm.rl.eval.task import Task
from cwm.rl.run.config import RLConfig
from cwm.rl.run.learner import Learner, build_policy, micro_batches, split_to
from cwm.rl.run.samples import EpisodeSpec, Group, Sample
from cwm.train.config import OptimConfig

CFG = RLConfig(
    micro_batch=2,
    optim=OptimConfig(lr=1e-2, eps=1e-3, warmup_steps=0, decay="constant", weight_decay=0.0),
    tasks=[Task(name="t", environment="low-tokens")],
)


def batch(*, shared_prompt: tuple[int, int] | None = None, seed: int = 0) -> list[Group]:
    """4 groups of 2 samples: random prompts (with ``shared_prompt``, one a group, of that
    many tokens at least and at most), actions, behaviour logprobs and rewards."""
    rng = random.Random(seed)
    groups = []
    for g in range(4):
        common = None
        if shared_prompt:
            common = [rng.randrange(100, 5000) for _ in range(rng.randint(*shared_prompt))]
        samples = []
        for _ in range(2):
            if common is None:
                prompt, acted = rng.randint(2, 5), rng.randint(1, 6)
                tokens = [rng.randrange(100, 5000) for _ in range(prompt + acted)]
            else:
                prompt, acted = len(common), rng.randint(1, 6)
                tokens = common + [rng.randrange(100, 5000) for _ in range(acted)]
            samples.append(
                Sample(
                    tokens=tokens,
                    action=[False] * prompt + [True] * acted,
                    logprobs=[-rng.uniform(5, 12) for _ in range(acted)],
                    versions=[0] * acted,
                    reward=rng.random(),
                    truncated=False,
                    finish="answered",
                    issue_version=0,
                )
            )
        spec = EpisodeSpec(group=g, task="t", row=g, seed=g)
        groups.append(Group(spec=spec, row_id=str(g), issue_version=0, samples=samples))
    return groups


def two_ranks(step, tp: int) -> list[tuple[int, dict, dict]]:
    """(rank, stats, weights as arrays) of ``step(group, tp)`` in two gloo processes;
    both must exit cleanly."""
    port = free_port()
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=rank_main, args=(r, port, step, tp, queue)) for r in range(2)]
    for p in procs:
        p.start()
    results = sorted((queue.get(timeout=300) for _ in procs), key=lambda r: r[0])
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    return results


def rank_main(rank: int, port: int, step, tp: int, queue) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        stats, weights = step(dist.group.WORLD, tp)
        arrays = {k: v.numpy().copy() for k, v in weights.items()}  # by value, not shared
        queue.put((rank, stats, arrays))
    finally:
        dist.destroy_process_group()


def one_step(group=None, tp: int = 1) -> tuple[dict, dict[str, torch.Tensor]]:
    torch.manual_seed(0)
    cfg = msgspec.structs.replace(CFG, learners=2 if group else 1, learner_tp=tp)
    learner = Learner(cfg, build_policy(cfg), group)
    if group is not None:  # each rank holds half of a projection: FSDP's rows, TP's heads
        wq = learner.model.layers[0].attention.wq.weight
        assert wq.to_local().shape[0] * 2 == wq.shape[0]
        assert (wq.device_mesh.mesh_dim_names or ("dp",))[-1] == ("tp" if tp > 1 else "dp")
    stats = learner.train(batch())
    return stats, learner.weights()


@pytest.mark.parametrize("tp", [1, 2], ids=["fsdp", "tensor-parallel"])
def test_two_learner_ranks_take_the_step_of_one(tp):
    # by their lengths the ranks' halves cut into 2 and 3 micro-batches: the learners
    # must agree on one count, or FSDP's collectives would not pair up
    length = [len(s.tokens) - 1 for g in batch() for s in g.samples]
    size, padding = CFG.micro_batch, CFG.micro_batch_padding  # the default padding
    counts = {
        len(micro_batches(sorted(half, key=lambda i: -length[i]), length, size, padding))
        for half in (range(4), range(4, 8))
    }
    assert counts == {2, 3}
    whole, alone = one_step()
    results = two_ranks(one_step, tp)
    start = build_policy(CFG).state_dict()
    assert max(float((alone[k] - start[k]).abs().max()) for k in alone) > 1e-4  # a real step
    for _, stats, weights in results:
        assert abs(stats["loss"] - whole["loss"]) < 1e-5
        assert stats["trained_tokens"] == whole["trained_tokens"]
        for name, t in alone.items():
            torch.testing.assert_close(torch.from_numpy(weights[name]), t, rtol=1e-4, atol=1e-5)


def test_a_zero_variance_group_is_not_run_and_changes_nothing():
    groups = batch()
    for s in groups[3].samples:  # one reward for the whole group: no advantage, no gradient
        s.reward = 0.5
    rows_run: list[int] = []

    def learner(cfg: RLConfig = CFG) -> Learner:
        torch.manual_seed(0)
        made = Learner(cfg, build_policy(cfg))
        made.model.layers[0].register_forward_pre_hook(
            lambda _, args: rows_run.append(args[0].shape[0])
        )
        return made

    skipping = learner()
    stats = skipping.train(groups)
    assert stats["zero_var_groups"] == 1 and sum(rows_run) == 6  # the other 3 groups' samples
    without = learner()
    without.train(groups[:3])
    for name, value in skipping.weights().items():
        assert torch.equal(value, without.weights()[name]), name
    rows_run.clear()
    running_all = learner(msgspec.structs.replace(CFG, train_zero_variance=True))
    running_all.train(groups)
    assert sum(rows_run) == 8  # on request, every sample
    for name, value in running_all.weights().items():
        assert torch.allclose(value, without.weights()[name], atol=1e-6), name
    rows_run.clear()
    idle = learner()
    before = {k: v.clone() for k, v in idle.weights().items()}
    assert idle.train(groups[3:])["trained_tokens"] == 0 and rows_run == []
    assert all(torch.equal(v, before[k]) for k, v in idle.weights().items())


def recording_widths(widths: list[tuple[int, int]], **changes) -> Learner:
    """A learner on ``CFG`` with ``changes``, from the same start, that appends the
    (rows, width) of each micro-batch it runs to ``widths``."""
    torch.manual_seed(0)
    made = Learner(msgspec.structs.replace(CFG, **changes), build_policy(CFG))
    made.model.layers[0].register_forward_pre_hook(
        lambda _, args: widths.append(tuple(args[0].shape[:2]))
    )
    return made


def test_micro_batches_are_cut_to_their_longest_sample_and_take_the_same_step():
    groups = batch()
    lengths = sorted((len(s.tokens) - 1 for g in groups for s in g.samples), reverse=True)
    widths: list[tuple[int, int]] = []

    def learner(micro_batch: int) -> Learner:  # cut by size alone (padding: see below)
        return recording_widths(widths, micro_batch=micro_batch, micro_batch_padding=1.0)

    cut = learner(2)
    cut.train(groups)
    # longest first, two samples a micro-batch, each as wide as its longer sample only
    assert widths == [(2, lengths[i]) for i in range(0, 8, 2)]
    assert sum(w for _, w in widths) < 4 * lengths[0]  # less than padding all to the longest
    widths.clear()
    whole = learner(8)
    whole.train(groups)
    assert widths == [(8, lengths[0])]
    for name, value in cut.weights().items():
        torch.testing.assert_close(value, whole.weights()[name], rtol=1e-4, atol=1e-6)


def test_a_micro_batch_ends_where_padding_would_waste_more_than_its_share():
    length = [1259, 1259, 441, 441, 1000, 950, 30]
    order = sorted(range(7), key=lambda i: -length[i])  # 0, 1, 4, 5, 2, 3, 6
    assert micro_batches(order, length, 8, 0.25) == [[0, 1, 4, 5], [2, 3], [6]]
    assert micro_batches(order, length, 3, 0.25) == [[0, 1, 4], [5], [2, 3], [6]]
    assert micro_batches(order, length, 8, 1.0) == [order]  # never cut by length
    assert micro_batches(order, length, 8, 0.0) == [[0, 1], [4], [5], [2, 3], [6]]
    # another rank's count: the largest micro-batches halved, first of them first
    assert split_to([[0, 1, 4, 5], [2, 3], [6]], 5) == [[0], [1], [4, 5], [2, 3], [6]]


def test_a_step_cut_by_padding_runs_each_length_at_its_own_width_and_takes_the_same_step():
    groups = batch()
    for g, n in zip(groups, (40, 40, 12, 12)):  # two long prompts, two short ones
        for s in g.samples:
            s.tokens, s.action = (
                s.tokens[:1] * (n - len(s.tokens)) + s.tokens,
                [False] * (n - len(s.action)) + s.action,
            )
    widths: list[tuple[int, int]] = []

    def learner(padding: float) -> Learner:
        return recording_widths(widths, micro_batch=8, micro_batch_padding=padding)

    cut = learner(0.25)
    cut.train(groups)
    assert widths == [(4, 39), (4, 11)]  # not one micro-batch of 8 rows of 39 tokens
    widths.clear()
    whole = learner(1.0)
    whole.train(groups)
    assert widths == [(8, 39)]
    for name, value in cut.weights().items():
        torch.testing.assert_close(value, whole.weights()[name], rtol=1e-4, atol=1e-6)
