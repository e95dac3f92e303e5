"""Is a checkpoint whole, and does its config describe its tensors?

A save records the size of every tensor file next to the config; a load checks
them first, so a truncated or missing file is one clear error instead of a
traceback deep in torch. The config is checked against the stored tensor shapes
(read from metadata, not the tensors), so a ``dim`` that disagrees with the
weights is caught before anything is built or converted from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from cwm.core.errors import CwmError
from cwm.core.model.config import ModelConfig

#: files that hold tensors (or DCP's index of them), by suffix or name
TENSOR_SUFFIXES = (".distcp", ".safetensors", ".pth")
DCP_METADATA = ".metadata"


def file_sizes(path: Path) -> dict[str, int]:
    """Bytes of each tensor file of the checkpoint at ``path`` (what a save records)."""
    return {
        p.name: p.stat().st_size
        for p in sorted(Path(path).iterdir())
        if p.is_file() and (p.name == DCP_METADATA or p.suffix in TENSOR_SUFFIXES)
    }


def check_files(path: Path, recorded: Mapping[str, int]) -> None:
    """Every recorded file is there with the size it was saved with."""
    for name, size in recorded.items():
        file = Path(path) / name
        if not file.is_file():
            raise CwmError(f"{file} is missing: the checkpoint is incomplete; copy it again")
        if (actual := file.stat().st_size) != size:
            raise CwmError(
                f"{file} is {actual:,} bytes but {size:,} were saved: the checkpoint is "
                "truncated or damaged; copy it again or use another checkpoint"
            )


def check_extents(path: Path, extents: Mapping[str, int]) -> None:
    """Every data file reaches at least as far as the index says its last item ends."""
    for name, end in extents.items():
        file = Path(path) / name
        if not file.is_file():
            raise CwmError(f"{file} is missing: the checkpoint is incomplete; copy it again")
        if (actual := file.stat().st_size) < end:
            raise CwmError(
                f"{file} is {actual:,} bytes but its tensors end at byte {end:,}: the checkpoint "
                "is truncated; copy it again or use another checkpoint"
            )


def expected_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """The parameter shapes a model of ``config`` has (built on the meta device: no memory)."""
    from cwm.core.model.transformer import Transformer

    with torch.device("meta"):
        model = Transformer(config)
    return {name: tuple(t.shape) for name, t in model.state_dict().items()}


def check_shapes(source: str, config: ModelConfig, shapes: Mapping[str, tuple[int, ...]]) -> None:
    """The stored tensors (our names) are exactly those a model of ``config`` has."""
    want = expected_shapes(config)
    if missing := sorted(set(want) - set(shapes)):
        raise CwmError(
            f"{source}: the tensors lack {missing[0]} ({len(missing)} missing); "
            "the config does not describe these weights"
        )
    if extra := sorted(set(shapes) - set(want)):
        raise CwmError(
            f"{source}: the tensors have {extra[0]} that the config has no place "
            f"for ({len(extra)} extra); the config does not describe these weights"
        )
    for name, shape in want.items():
        if tuple(shapes[name]) != shape:
            keys = ", ".join(f"{k}={getattr(config, k)}" for k in _KEYS if _uses(name, k))
            raise CwmError(
                f"{source}: {name} is {list(shapes[name])} in the tensors but the config "
                f"({keys}) makes it {list(shape)}; fix the config or use the weights it came with"
            )


# the config keys a parameter's shape depends on, for the error message
_KEYS = (
    "dim",
    "n_layers",
    "n_heads",
    "n_kv_heads",
    "head_dim",
    "ffn_dim",
    "vocab_size",
    "copy_dim",
)


def _uses(name: str, key: str) -> bool:
    if key == "dim":
        return True
    if key == "vocab_size":
        return "tok_embeddings" in name or name.startswith("output")
    if key == "ffn_dim":
        return "feed_forward" in name
    if key in ("n_heads", "n_kv_heads", "head_dim"):
        return "attention." in name
    if key == "copy_dim":
        return name.startswith("copy_head")
    return False
