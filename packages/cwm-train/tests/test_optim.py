"""The optimizers: which parameters Muon takes, and that it trains."""

import msgspec
import pytest
import torch

from cwm.core.model import build_model, flavor
from cwm.train.config import OptimConfig
from cwm.train.optim import Optimizers, build_optimizer, set_lr

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


def test_a_muon_step_moves_every_parameter_that_has_a_gradient():
    net = build_model(flavor("debug"), seed=1)
    optimizer = build_optimizer(net, OptimConfig(name="muon", lr=1e-2))
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    tokens = torch.randint(0, 100, (2, 16))
    net(tokens).float().logsumexp(-1).mean().backward()
    optimizer.step()
    optimizer.zero_grad()
    moved = {n for n, p in net.named_parameters() if not torch.equal(p, before[n])}
    assert moved == {n for n in before}
    assert all(p.grad is None for p in net.parameters())
