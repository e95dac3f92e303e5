"""torch DCP calls that work the same with or without torch.distributed initialized,
and reading a DCP directory into a plain state dict without a model to load into."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch import Tensor
from torch.distributed.checkpoint.metadata import TensorStorageMetadata

METADATA = ".metadata"


@contextlib.contextmanager
def _single_process_ok() -> Iterator[None]:
    """DCP warns whenever it runs without torch.distributed; here that is intended."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*assuming the intent is to")
        yield


def save(state: dict[str, Any], path: Path, group: dist.ProcessGroup | None = None) -> None:
    """Save ``state`` to ``path`` collectively over ``group`` (default: every rank)."""
    with _single_process_ok():
        dcp.save(
            state, checkpoint_id=str(path), process_group=group, no_dist=not dist.is_initialized()
        )


def load(state: dict[str, Any], path: Path, group: dist.ProcessGroup | None = None) -> None:
    """Fill ``state`` (plain or DTensor values, in place) from the DCP at ``path``,
    collectively over ``group`` (default: every rank)."""
    with _single_process_ok():
        dcp.load(
            state, checkpoint_id=str(path), process_group=group, no_dist=not dist.is_initialized()
        )


def is_dcp(path: Path) -> bool:
    return (path / METADATA).is_file()


def dcp_extents(path: Path) -> dict[str, int]:
    """Bytes each data file must have at least: where the last item ``.metadata`` places
    in it ends (so even a checkpoint without recorded sizes shows a truncation)."""
    ends: dict[str, int] = {}
    for info in dcp.FileSystemReader(str(path)).read_metadata().storage_data.values():
        ends[info.relative_path] = max(ends.get(info.relative_path, 0), info.offset + info.length)
    return ends


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
    load(state, path)
    return {k[len(prefix) :]: v for k, v in state.items()}
