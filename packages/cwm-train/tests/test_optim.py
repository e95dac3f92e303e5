"""The optimizers: which parameters Muon takes, and that it trains."""

import msgspec
import pytest
import torch
import torch.nn.functional as F

from cwm.core.errors import CwmError
from cwm.core.model import build_model, flavor
from cwm.train.config import OptimConfig
from cwm.train.optim import Optimizers, build_optimizer, fusable, set_lr

#: the debug flavor with a smear: its gate is a 1 x dim matrix that is not a block's
model = build_model(msgspec.structs.replace(flavor("debug"), smear=True))


def owners(optimizer) -> dict[str, str]:
    """Each parameter's optimizer class name, by parameter name."""
    names = {id(p): n for n, p in model.named_parameters()}
    out = {}
    for opt in optimizer if isinstance(optimizer, Optimizers) else [optimizer]:
        for group in opt.param_groups:
            for p in group["params"]:
                assert names[id(p)] not in out, f"{names[id(p)]} in two optimizers"
                out[names[id(p)]] = type(opt).__name__
    return out


def test_adamw_alone_by_default():
    optimizer = build_optimizer(model, OptimConfig())
    assert isinstance(optimizer, torch.optim.AdamW)
    assert set(owners(optimizer)) == {n for n, _ in model.named_parameters()}


class Wrapped(torch.Tensor):
    """A tensor subclass, as float8 training's weights are."""


def loop_adamw(model, cfg=OptimConfig()):
    """torch's per-parameter AdamW over ``model``'s groups as cwm-train splits them: what
    cwm-train built before 0.6."""
    groups = [
        {"params": g["params"], "weight_decay": g["weight_decay"]}
        for g in build_optimizer(model, cfg).param_groups
    ]
    return torch.optim.AdamW(
        groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps, foreach=False
    )


def one_step(model, optimizer, tokens=None) -> None:
    if tokens is None:
        tokens = torch.randint(0, model.config.vocab_size, (2, 16))
    F.cross_entropy(model(tokens[:, :-1]).flatten(0, 1), tokens[:, 1:].flatten()).backward()
    optimizer.step()
    optimizer.zero_grad()


def test_adamw_runs_fused_with_the_per_parameter_loops_numbers():
    """The fused kernel (7.3x faster a step on one CPU thread, tiny flavor) is the same
    AdamW: three steps land where torch's per-parameter loop lands."""
    fused_model = build_model(flavor("debug"), seed=3)
    loop_model = build_model(flavor("debug"), seed=3)
    cfg = OptimConfig(lr=1e-2, weight_decay=0.1)
    fused, loop = build_optimizer(fused_model, cfg), loop_adamw(loop_model, cfg)
    assert fused.defaults["fused"] and not loop.defaults["fused"]
    torch.manual_seed(0)
    batches = [torch.randint(0, fused_model.config.vocab_size, (2, 16)) for _ in range(3)]
    for tokens in batches:
        one_step(fused_model, fused, tokens)
        one_step(loop_model, loop, tokens)
    for a, b in zip(fused_model.parameters(), loop_model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)  # float rounding; a step is ~1e-2


def test_a_loop_checkpoint_resumes_on_the_fused_kernel(tmp_path):
    """A checkpoint saved by the per-parameter loop (cwm-train before 0.6) carries its
    ``fused`` setting; the optimizer it loads into keeps its own."""
    from cwm.train.checkpoint import Checkpointer

    old_model = build_model(flavor("debug"), seed=1)
    old = loop_adamw(old_model)
    one_step(old_model, old)
    checkpoints = Checkpointer(tmp_path, keep=1)
    path = checkpoints.save(1, old_model, old, {"step": 1})
    new_model = build_model(flavor("debug"), seed=2)
    new = build_optimizer(new_model, OptimConfig())
    checkpoints.load(path, new_model, new)
    assert all(g["fused"] for g in new.param_groups)
    for p, q in zip(old_model.parameters(), new_model.parameters()):
        torch.testing.assert_close(old.state[p]["exp_avg_sq"], new.state[q]["exp_avg_sq"])
    one_step(new_model, new)  # the fused kernel takes the loaded state
    assert all(float(new.state[p]["step"]) == 2 for p in new_model.parameters())


def test_sharded_parameters_run_fused_alone_and_without_a_tensor_subclass():
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import DTensor, distribute_tensor

    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        mesh = init_device_mesh("cpu", (1,))
        sharded = torch.nn.Parameter(distribute_tensor(torch.zeros(4, 4), mesh))
        assert fusable([sharded])
        # tensor parallelism without sequence parallelism: sharded matrices, plain norms
        assert not fusable([sharded, torch.nn.Parameter(torch.zeros(4))])
        wrapped = DTensor.from_local(torch.zeros(4, 4).as_subclass(Wrapped), mesh)
        assert not fusable([sharded, wrapped])
    finally:
        dist.destroy_process_group()


def test_tensor_subclass_parameters_keep_torchs_own_adamw():
    """Float8 training's weights are tensor subclasses the fused kernel does not take."""
    plain = torch.nn.Parameter(torch.zeros(2))
    assert fusable([plain])
    assert not fusable([plain, torch.nn.Parameter(torch.zeros(2).as_subclass(Wrapped))])
    assert not fusable([torch.nn.Parameter(torch.zeros(2, device="meta"))])
    assert not fusable([])


def test_muon_takes_the_blocks_matrices_and_adamw_the_rest():
    found = owners(build_optimizer(model, OptimConfig(name="muon")))
    assert set(found) == {n for n, _ in model.named_parameters()}  # every parameter, once
    muon = {n for n, owner in found.items() if owner == "Muon"}
    assert muon == {
        n for n, p in model.named_parameters() if n.startswith("layers.") and p.ndim == 2
    }
    assert "layers.0.attention.wq.weight" in muon and "layers.0.feed_forward.w2.weight" in muon
    for name in ("tok_embeddings.weight", "output.weight", "smear.gate.weight", "norm.weight"):
        assert found[name] == "AdamW"


def test_the_schedule_reaches_both_optimizers():
    optimizer = build_optimizer(model, OptimConfig(name="muon"))
    set_lr(optimizer, 0.123)
    assert [g["lr"] for opt in optimizer for g in opt.param_groups] == pytest.approx(
        [0.123] * sum(len(opt.param_groups) for opt in optimizer)
    )


def test_muon_gets_the_configured_options():
    _, muon = build_optimizer(model, OptimConfig(name="muon", weight_decay=0.2, muon_momentum=0.9))
    group = muon.param_groups[0]
    assert (group["weight_decay"], group["momentum"]) == (0.2, 0.9)
    assert group["adjust_lr_fn"] == "match_rms_adamw"  # so AdamW's lr carries over


def test_a_muon_step_is_orthogonalized():
    """AdamW's first step is lr * sign(gradient), whose singular values spread; Muon's
    is an orthogonalized matrix (Newton-Schulz leaves them in about [0.7, 1.1])."""
    torch.manual_seed(0)
    net = build_model(flavor("debug"), seed=1)
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    tokens = torch.randint(0, 100, (4, 64))  # more tokens than the matrix's rank
    matrix = "layers.0.feed_forward.w2.weight"  # its gradient has full rank
    spreads = {}
    for name in ("adamw", "muon"):
        net.load_state_dict(before)
        optimizer = build_optimizer(net, OptimConfig(name=name, lr=1e-2, weight_decay=0.0))
        logits = net(tokens[:, :-1]).float()
        F.cross_entropy(logits.flatten(0, 1), tokens[:, 1:].flatten()).backward()
        optimizer.step()
        optimizer.zero_grad()
        assert all(p.grad is None for p in net.parameters())
        moved = {n for n, p in net.named_parameters() if not torch.equal(p, before[n])}
        assert moved == set(before)  # every parameter had a gradient, so each moved
        s = torch.linalg.svdvals(net.state_dict()[matrix] - before[matrix])
        spreads[name] = (s.max() / s.min()).item()
    assert spreads["muon"] < 2.0 and spreads["adamw"] > 4.0, spreads


def test_muon_without_block_matrices_is_one_clear_error():
    wrapper = torch.nn.Sequential(model)  # names become 0.layers.N.*
    with pytest.raises(CwmError, match="no transformer block matrices"):
        build_optimizer(wrapper, OptimConfig(name="muon"))
