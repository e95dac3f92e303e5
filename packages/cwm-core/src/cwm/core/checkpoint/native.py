"""The native checkpoint: a torch DCP directory plus the model config as JSON.

Layout (a public contract: the trainer writes its checkpoints this way, so
`load_checkpoint` and ``cwm serve`` read them)::

    DIR/
      cwm_model.json        {"format": "cwm-native", "version": 1, "dtype": "bfloat16",
                             "model": {ModelConfig fields},
                             "files": {"__0_0.distcp": bytes, ".metadata": bytes, ...}}
      .metadata             torch.distributed.checkpoint metadata
      __0_0.distcp ...      tensors; the model's under keys "model.<parameter name>"

Other top-level keys in the same DCP (``optimizer.*``, ``train.*``) are allowed
and ignored by the model loader. DCP reshards on load: any number of ranks, any
sharding (FSDP/TP DTensors) can read what any other wrote. ``files`` (written after
the tensors) lets `verify` find a truncated or missing file before torch reads it;
`verify` also checks the config against the tensor shapes in ``.metadata``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec
import torch
import torch.distributed as dist
from torch import Tensor, nn

from cwm.core.checkpoint import dcp_io
from cwm.core.checkpoint.dcp_io import dcp_extents, dcp_keys, read_dcp
from cwm.core.checkpoint.dtypes import dtype_of, name_of, state_dtype
from cwm.core.checkpoint.integrity import check_extents, check_files, check_shapes, file_sizes
from cwm.core.errors import CwmError
from cwm.core.io import atomic_open
from cwm.core.model.config import ModelConfig

CONFIG = "cwm_model.json"
FORMAT = "cwm-native"
VERSION = 1
PREFIX = "model."


def write_config(path: Path, config: ModelConfig, dtype: torch.dtype) -> None:
    """Write ``cwm_model.json`` with the sizes of the tensor files already saved in
    ``path`` (rank 0 only when distributed, after every rank's DCP save returned)."""
    if dist.is_initialized() and dist.get_rank() != 0:
        return
    path.mkdir(parents=True, exist_ok=True)
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "dtype": name_of(dtype),
        "model": msgspec.to_builtins(config),
        "files": file_sizes(path),
    }
    with atomic_open(path / CONFIG, "w") as f:
        f.write(json.dumps(doc, indent=2) + "\n")


def _read_doc(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads((path / CONFIG).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CwmError(f"{path / CONFIG}: cannot read the model config: {exc}") from None
    if doc.get("format") != FORMAT or doc.get("version", 0) > VERSION:
        raise CwmError(
            f"{path / CONFIG}: format {doc.get('format')!r} version {doc.get('version')} "
            f"is not {FORMAT} <= {VERSION}; upgrade cwm-core"
        )
    return doc


def read_config(path: Path) -> ModelConfig:
    try:
        return msgspec.convert(_read_doc(path)["model"], ModelConfig)
    except msgspec.ValidationError as exc:
        raise CwmError(f"{path / CONFIG}: bad model config: {exc}") from None


def verify(path: Path) -> ModelConfig:
    """The config, once the tensor files have their saved sizes (checkpoints written
    before sizes were recorded skip that) and their shapes fit the config."""
    config = read_config(path)
    check_files(path, _read_doc(path).get("files") or {})
    try:
        stored, extents = dcp_keys(path), dcp_extents(path)
    except Exception as exc:  # torch raises several types for a damaged .metadata
        raise CwmError(
            f"{path}: cannot read the DCP metadata ({type(exc).__name__}); "
            "the checkpoint is damaged; copy it again"
        ) from None
    check_extents(path, extents)
    if not any(k.startswith(PREFIX) for k in stored):
        raise CwmError(f"{path}: the DCP holds no model tensors ({PREFIX}*)")
    shapes = {k[len(PREFIX) :]: tuple(md.size) for k, md in stored.items() if k.startswith(PREFIX)}
    check_shapes(str(path / CONFIG), config, shapes)
    return config


def read_dtype(path: Path) -> torch.dtype:
    """The dtype the weights were saved in."""
    return dtype_of(_read_doc(path).get("dtype", "float32"))


def write(config: ModelConfig, state: Mapping[str, Tensor], path: Path) -> None:
    """Save a state dict (plain or DTensor-sharded; every rank calls this)."""
    dcp_io.save({"model": dict(state)}, path)
    write_config(path, config, state_dtype(state))


def read(path: Path) -> tuple[ModelConfig, dict[str, Tensor]]:
    return verify(path), read_dcp(path, prefix=PREFIX)


def save_model(model: nn.Module, path: Path) -> None:
    """Save ``model`` (which may be sharded) as a native checkpoint."""
    config: Any = model.config
    write(config, model.state_dict(), Path(path))


def load_model(model: nn.Module, path: Path) -> None:
    """Load a native checkpoint into ``model`` in place, resharding to its layout."""
    dcp_io.load({"model": model.state_dict()}, Path(path))
