"""Model checkpoints in three formats, detected on load and converted between.

- ``native``: torch DCP + ``cwm_model.json`` (sharded, reshards on load; what the
  trainer writes). See `cwm.core.checkpoint.native`.
- ``hf``: Hugging Face ``CwmForCausalLM`` (config.json + safetensors).
- ``meta``: Meta's release layout (params.json + consolidated.00.pth or DCP).

    model = load_checkpoint("ckpt/", device="cpu")
    save_checkpoint(model, "ckpt-hf/", format="hf")
    convert("ckpt-hf/", "ckpt-meta/", to="meta")

Every read first checks that the checkpoint is whole and that its config describes
its tensors (`verify`; see `cwm.core.checkpoint.integrity`): a truncated file or a
config that disagrees with the weights is a one-line `CwmError`, never a traceback
or a silently wrong conversion.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import torch
import torch.distributed as dist
from torch import Tensor, nn

from cwm.core.checkpoint import hf, meta, native
from cwm.core.errors import CwmError
from cwm.core.model.config import ModelConfig
from cwm.core.model.transformer import Transformer, build_model

FORMATS = ("native", "hf", "meta")
_MODULES: dict[str, Any] = {"native": native, "hf": hf, "meta": meta}
_MARKERS = {"native": native.CONFIG, "hf": hf.CONFIG, "meta": meta.PARAMS}

__all__ = [
    "FORMATS",
    "convert",
    "detect_format",
    "ensure_empty",
    "load_checkpoint",
    "read",
    "read_config",
    "save_checkpoint",
    "verify",
]


def detect_format(path: Path | str) -> str:
    path = Path(path)
    if not path.is_dir():
        raise CwmError(f"{path}: no such checkpoint directory")
    for fmt, marker in _MARKERS.items():
        if (path / marker).is_file():
            return fmt
    raise CwmError(
        f"{path}: not a CWM checkpoint; expected {native.CONFIG} (native), "
        f"{hf.CONFIG} (hf) or {meta.PARAMS} (meta)"
    )


def read_config(path: Path | str) -> tuple[str, ModelConfig]:
    """(format, model config) of any checkpoint, without reading the weights."""
    fmt = detect_format(path)
    with _readable(path, fmt):
        return fmt, _MODULES[fmt].read_config(Path(path))


def verify(path: Path | str) -> tuple[str, ModelConfig]:
    """(format, model config) once the tensor files are whole and fit the config
    (native and hf read only metadata; meta memory-maps its weights)."""
    fmt = detect_format(path)
    with _readable(path, fmt):
        return fmt, _MODULES[fmt].verify(Path(path))


def read(path: Path | str) -> tuple[str, ModelConfig, dict[str, Tensor]]:
    """(format, config, full state dict in our names and layout) of any checkpoint."""
    fmt = detect_format(path)
    with _readable(path, fmt):
        config, state = _MODULES[fmt].read(Path(path))
    return fmt, config, state


@contextlib.contextmanager
def _readable(path: Path | str, fmt: str) -> Iterator[None]:
    """Malformed config files become one-line errors naming the checkpoint."""
    try:
        yield
    except json.JSONDecodeError as exc:
        raise CwmError(f"{path}: invalid JSON in the {fmt} config: {exc}") from None
    except KeyError as exc:
        raise CwmError(f"{path}: the {fmt} config has no {exc} entry") from None
    except CwmError:
        raise
    except Exception as exc:  # torch and safetensors raise many types for damaged files
        first = str(exc).splitlines()[0][:200] if str(exc) else ""
        raise CwmError(
            f"{path}: cannot read the {fmt} checkpoint ({type(exc).__name__}: "
            f"{first}); it is damaged or incomplete: copy it again"
        ) from None


def load_checkpoint(
    path: Path | str,
    *,
    device: torch.device | str = "cpu",
    dtype: torch.dtype | None = None,
    **overrides: Any,
) -> Transformer:
    """A `Transformer` with the weights of the checkpoint at ``path`` (any format).

    ``dtype`` casts after loading (default: as stored). ``overrides`` replace
    run-time config fields, e.g. ``attention="flex"`` or ``compile=True``.
    """
    path = Path(path)
    fmt = detect_format(path)
    if fmt == "native":
        _, config = verify(path)
        stored = native.read_dtype(path)
        model = build_model(_override(config, overrides), device=device, dtype=stored, seed=None)
        with _readable(path, fmt):
            native.load_model(model, path)
    else:
        _, config, state = read(path)
        with torch.device("meta"):
            model = Transformer(_override(config, overrides))
        # adopt the loaded tensors instead of copying them: one copy of the weights in memory
        model.load_state_dict(state, strict=True, assign=True)
        model.to(device)
    if dtype is not None:
        model.to(dtype)
    return model


def save_checkpoint(model: nn.Module, path: Path | str, *, format: str = "native") -> None:
    """Write ``model`` as a ``format`` checkpoint into a new or empty directory."""
    writer = _writer(format)
    ensure_empty(Path(path))
    config: Any = model.config
    writer.write(config, model.state_dict(), Path(path))  # a sharded model saves via DCP


def convert(src: Path | str, dst: Path | str, *, to: str) -> str:
    """Rewrite the checkpoint at ``src`` as ``to`` in ``dst``; returns the source format."""
    writer = _writer(to)
    ensure_empty(Path(dst))
    fmt, config, state = read(src)
    writer.write(config, state, Path(dst))
    return fmt


def _writer(fmt: str) -> Any:
    if fmt not in _MODULES:
        raise CwmError(f"unknown checkpoint format {fmt!r}; formats: {', '.join(FORMATS)}")
    return _MODULES[fmt]


def ensure_empty(path: Path) -> None:
    """Never write over an existing checkpoint (rank 0 checks when distributed)."""
    if dist.is_initialized() and dist.get_rank() != 0:
        return
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise CwmError(f"{path} exists and is not empty; choose a new directory")


def _override(config: ModelConfig, overrides: dict[str, Any]) -> ModelConfig:
    allowed = {"attention", "compile", "compile_strict"}
    if bad := set(overrides) - allowed:
        raise TypeError(f"load_checkpoint() cannot override {sorted(bad)}; only {sorted(allowed)}")
    return msgspec.structs.replace(config, **overrides)
