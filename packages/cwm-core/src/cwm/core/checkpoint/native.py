"""The native checkpoint: a torch DCP directory plus the model config as JSON.

Layout (a public contract: the trainer writes its checkpoints this way, so
`load_checkpoint` and ``cwm serve`` read them)::

    DIR/
      cwm_model.json        {"format": "cwm-native", "version": 1, "dtype": "bfloat16",
                             "model": {ModelConfig fields}}
      .metadata             torch.distributed.checkpoint metadata
      __0_0.distcp ...      tensors; the model's under keys "model.<parameter name>"

Other top-level keys in the same DCP (``optimizer.*``, ``train.*``) are allowed
and ignored by the model loader. DCP reshards on load: any number of ranks, any
sharding (FSDP/TP DTensors) can read what any other wrote.
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
from cwm.core.checkpoint.dcp_io import read_dcp
from cwm.core.checkpoint.dtypes import dtype_of, name_of, state_dtype
from cwm.core.errors import CwmError
from cwm.core.io import atomic_open
from cwm.core.model.config import ModelConfig

CONFIG = "cwm_model.json"
FORMAT = "cwm-native"
VERSION = 1
PREFIX = "model."


def write_config(path: Path, config: ModelConfig, dtype: torch.dtype) -> None:
    """Write ``cwm_model.json`` (rank 0 only when distributed)."""
    if dist.is_initialized() and dist.get_rank() != 0:
        return
    path.mkdir(parents=True, exist_ok=True)
    doc = {"format": FORMAT, "version": VERSION, "dtype": name_of(dtype),
           "model": msgspec.to_builtins(config)}  # fmt: skip
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


def read_dtype(path: Path) -> torch.dtype:
    """The dtype the weights were saved in."""
    return dtype_of(_read_doc(path).get("dtype", "float32"))


def write(config: ModelConfig, state: Mapping[str, Tensor], path: Path) -> None:
    """Save a state dict (plain or DTensor-sharded; every rank calls this)."""
    dcp_io.save({"model": dict(state)}, path)
    write_config(path, config, state_dtype(state))


def read(path: Path) -> tuple[ModelConfig, dict[str, Tensor]]:
    return read_config(path), read_dcp(path, prefix=PREFIX)


def save_model(model: nn.Module, path: Path) -> None:
    """Save ``model`` (which may be sharded) as a native checkpoint."""
    config: Any = model.config
    write(config, model.state_dict(), Path(path))


def load_model(model: nn.Module, path: Path) -> None:
    """Load a native checkpoint into ``model`` in place, resharding to its layout."""
    dcp_io.load({"model": model.state_dict()}, Path(path))
