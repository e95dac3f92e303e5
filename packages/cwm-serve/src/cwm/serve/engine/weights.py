"""In-place weight updates: new values copied into the parameters the engine runs.

Copying (instead of swapping modules) keeps every tensor where it was, so the
KV cache of in-flight sequences, CUDA graphs and compiled code stay valid; a
sequence that spans an update keeps its cache and continues with the new
weights. Everything is checked before anything is copied, so a bad update
leaves the model as it was.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from cwm.core.errors import CwmError


@torch.no_grad()
def copy_weights(
    model: nn.Module, source: Mapping[str, Tensor] | nn.Module, *, strict: bool = True
) -> int:
    """Copy ``source`` (a state dict in cwm-core names, or a model) into ``model``; returns
    how many tensors were updated. ``strict=False`` allows updating a subset."""
    state = source.state_dict() if isinstance(source, nn.Module) else source
    params = model.state_dict()
    unknown = sorted(set(state) - set(params))
    missing = sorted(set(params) - set(state)) if strict else []
    if unknown or missing:
        raise CwmError(
            f"weight update does not match the model: unknown {unknown[:3]}, missing {missing[:3]}; "
            "pass a state dict of the same architecture (or strict=False for a subset)"
        )
    for name, value in state.items():
        if value.shape != params[name].shape:
            raise CwmError(
                f"weight update: {name} has shape {tuple(value.shape)}, the model has "
                f"{tuple(params[name].shape)}"
            )
    for name, value in state.items():
        params[name].copy_(value)  # converts dtype and device
    return len(state)
