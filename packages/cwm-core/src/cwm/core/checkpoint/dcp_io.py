"""Reading a torch DCP directory into a plain state dict, without a model to load into."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.distributed.checkpoint as dcp
from torch import Tensor
from torch.distributed.checkpoint.metadata import TensorStorageMetadata

METADATA = ".metadata"


def is_dcp(path: Path) -> bool:
    return (path / METADATA).is_file()


def dcp_keys(path: Path) -> dict[str, TensorStorageMetadata]:
    meta = dcp.FileSystemReader(str(path)).read_metadata()
    return {
        k: v for k, v in meta.state_dict_metadata.items() if isinstance(v, TensorStorageMetadata)
    }


def read_dcp(path: Path, *, prefix: str = "") -> dict[str, Tensor]:
    """Every tensor whose key starts with ``prefix`` (stripped), full-size on CPU.

    Falls back to all tensors when none has the prefix (a checkpoint saved from a
    bare state dict)."""
    tensors = dcp_keys(path)
    if prefix and not any(k.startswith(prefix) for k in tensors):
        prefix = ""
    state = {
        k: torch.empty(md.size, dtype=md.properties.dtype)
        for k, md in tensors.items()
        if k.startswith(prefix)
    }
    dcp.load(state, checkpoint_id=str(path))
    return {k[len(prefix) :]: v for k, v in state.items()}
