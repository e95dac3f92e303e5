"""Parallelism for the CWM transformer: the device mesh, tensor parallel (DTensor),
FSDP2, activation checkpointing, and a gradient norm that works across meshes.

Order (as torchtitan does it): convert (hardware backend), tensor parallel,
activation checkpointing, compile, FSDP, then materialize and initialize.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.distributed.device_mesh import DeviceMesh, init_device_mesh
from torch.distributed.tensor import DTensor, Replicate, Shard
from torch.distributed.tensor.parallel import (
    ColwiseParallel,
    PrepareModuleInput,
    PrepareModuleOutput,
    RowwiseParallel,
    SequenceParallel,
    parallelize_module,
)
from torch.utils.checkpoint import checkpoint

from cwm.core.errors import CwmError
from cwm.train.config import ParallelConfig


def mesh_shape(cfg: ParallelConfig, world: int) -> tuple[int, int]:
    """(dp, tp) for ``world`` ranks; dp = -1 takes what tp leaves."""
    tp = cfg.tp
    dp = cfg.dp if cfg.dp != -1 else world // max(tp, 1)
    if tp < 1 or dp < 1 or dp * tp != world:
        raise CwmError(
            f"parallel: dp={cfg.dp} x tp={cfg.tp} does not match the {world} processes; "
            "set parallel.dp and parallel.tp so that dp * tp = world size (dp = -1 infers it)"
        )
    return dp, tp


def build_mesh(device_type: str, dp: int, tp: int) -> DeviceMesh | None:
    """The 2-D ("dp", "tp") mesh, or None in a single process."""
    if not dist.is_initialized():
        return None
    return init_device_mesh(device_type, (dp, tp), mesh_dim_names=("dp", "tp"))


def apply_tp(model: nn.Module, mesh: DeviceMesh, *, sequence_parallel: bool) -> None:
    """Megatron-style tensor parallel: q/k/v and w1/w3 column-wise, wo and w2 row-wise,
    the vocabulary sharded in the embedding and the head. With ``sequence_parallel``
    the norms and the residual stream are sharded over the sequence between blocks."""
    config: Any = model.config
    tp = mesh.size()
    if config.smear:
        raise CwmError("a model with smear does not run tensor parallel yet: set parallel.tp=1")
    if config.copy_dim:
        raise CwmError(
            "a model with a copy head does not run tensor parallel yet: set parallel.tp=1"
        )
    for what, n in (
        ("n_heads", config.n_heads),
        ("n_kv_heads", config.n_kv_heads),
        ("ffn_dim", config.ffn_dim),
    ):
        if n % tp:
            raise CwmError(f"parallel.tp={tp} must divide the model's {what} ({n})")
    seq = Shard(1) if sequence_parallel else Replicate()
    parallelize_module(
        model,
        mesh,
        {
            "tok_embeddings": RowwiseParallel(input_layouts=Replicate(), output_layouts=seq),
            "output": ColwiseParallel(output_layouts=Replicate()),
            **({"norm": SequenceParallel()} if sequence_parallel else {}),
        },
    )
    if sequence_parallel:  # the loss reads whole rows of hidden states
        parallelize_module(
            model.norm,
            mesh,
            PrepareModuleOutput(
                output_layouts=Shard(1), desired_output_layouts=Replicate(), use_local_output=True
            ),
        )
    for block in model.layers:
        plan: dict[str, Any] = {
            "attention.wq": ColwiseParallel(),
            "attention.wk": ColwiseParallel(),
            "attention.wv": ColwiseParallel(),
            "attention.wo": RowwiseParallel(output_layouts=seq),
            "feed_forward.w1": ColwiseParallel(),
            "feed_forward.w3": ColwiseParallel(),
            "feed_forward.w2": RowwiseParallel(output_layouts=seq),
        }
        if sequence_parallel:
            plan |= {
                "attention_norm": SequenceParallel(),
                "ffn_norm": SequenceParallel(),
                # x, cos, sin, mask, cache: only x is gathered
                "attention": PrepareModuleInput(
                    input_layouts=(Shard(1), None, None, None, None),
                    desired_input_layouts=(Replicate(), None, None, None, None),
                ),
                "feed_forward": PrepareModuleInput(
                    input_layouts=(Shard(1),), desired_input_layouts=(Replicate(),)
                ),
            }
        parallelize_module(block, mesh, plan)
        block.attention.n_heads //= tp  # each rank computes its own heads
        block.attention.n_kv_heads //= tp


def apply_fsdp(root: nn.Module, model: nn.Module, mesh: DeviceMesh, **options: Any) -> None:
    """FSDP2: one unit per block, the root (embedding, final norm, head) last."""
    from torch.distributed.fsdp import fully_shard

    for block in model.layers:
        fully_shard(block, mesh=mesh, **options)
    fully_shard(root, mesh=mesh, **options)


def apply_activation_checkpointing(model: nn.Module) -> None:
    """Recompute each block's activations in the backward instead of storing them.
    Wraps the block's forward in place, so parameter names (and checkpoints) are unchanged."""
    for block in model.layers:
        inner = block.forward

        def forward(*args: Any, _inner: Any = inner) -> Tensor:
            return checkpoint(_inner, *args, use_reentrant=False)

        block.forward = forward


def grad_norm(params: Iterable[nn.Parameter]) -> Tensor:
    """The global L2 norm of the gradients, whatever mesh each (DTensor) gradient lives on."""
    squares = []
    for p in params:
        if p.grad is None:
            continue
        n = torch.linalg.vector_norm(p.grad, dtype=torch.float32)
        if isinstance(n, DTensor):
            n = n.full_tensor()
        squares.append(n.square())
    if not squares:
        return torch.zeros(())
    return torch.stack(squares).sum().sqrt()


def clip_grads(params: list[nn.Parameter], max_norm: float) -> float:
    """Scale the gradients so their global norm is at most ``max_norm``; returns the norm."""
    total = float(grad_norm(params))
    if max_norm > 0 and math.isfinite(total) and total > max_norm:
        coef = max_norm / (total + 1e-6)
        for p in params:
            if p.grad is not None:
                p.grad.mul_(coef)
    return total
