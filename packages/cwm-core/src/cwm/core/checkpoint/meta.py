"""Meta's native CWM layout: params.json + consolidated weights (or a DCP directory).

params.json holds ``{"model": {...}}`` with the field names of the release's
``TransformerArgs``; the weights are ``consolidated.00.pth`` (a torch.save'd
state dict) or torch DCP files whose keys are ``model.<name>`` (as the release's
checkpointer writes). Parameter names are ours; q/k projections are stored
interleaved (dims ``2i, 2i+1`` of a head rotate together), so they are permuted
to and from our rotate-half layout here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from cwm.core.checkpoint.dcp_io import is_dcp, read_dcp
from cwm.core.checkpoint.integrity import check_shapes
from cwm.core.errors import CwmError
from cwm.core.model.config import ModelConfig, RopeScaling
from cwm.core.tokenizer.tokenizer import DEFAULT_VOCAB_NAME

PARAMS = "params.json"
CONSOLIDATED = "consolidated.00.pth"


def interleaved_to_half(w: Tensor, n_heads: int) -> Tensor:
    """Rows of each head ``(2i, 2i+1)`` -> ``(i, i + D/2)``."""
    rows, cols = w.shape
    return w.view(n_heads, rows // n_heads // 2, 2, cols).transpose(1, 2).reshape(rows, cols)


def half_to_interleaved(w: Tensor, n_heads: int) -> Tensor:
    """The inverse of `interleaved_to_half`."""
    rows, cols = w.shape
    return w.view(n_heads, 2, rows // n_heads // 2, cols).transpose(1, 2).reshape(rows, cols)


def _permute_qk(state: Mapping[str, Tensor], config: ModelConfig, fn: Any) -> dict[str, Tensor]:
    heads = {"attention.wq.weight": config.n_heads, "attention.wk.weight": config.n_kv_heads}
    out = {}
    for name, tensor in state.items():
        suffix = name.split(".", 2)[-1]
        out[name] = fn(tensor, heads[suffix]).contiguous() if suffix in heads else tensor
    return out


# -- params.json -------------------------------------------------------------------


def _ffn_args(config: ModelConfig) -> dict[str, Any]:
    """ffn_exp / multiple_of / ffn_dim_multiplier that give exactly ``ffn_dim`` in the
    release's formula (CWM-32B: 4, 256, 1.3125)."""
    base = int(2 * 4 * config.dim / 3)
    for multiple_of in (256, 1):
        multiplier = config.ffn_dim / base if multiple_of > 1 else (config.ffn_dim + 0.5) / base
        args = {"ffn_exp": 4, "multiple_of": multiple_of, "ffn_dim_multiplier": multiplier}
        if meta_ffn_dim(config.dim, args) == config.ffn_dim:
            return args
    raise AssertionError("unreachable: multiple_of=1 reproduces any ffn_dim")


def meta_ffn_dim(dim: int, args: Mapping[str, Any]) -> int:
    hidden = int(2 * args.get("ffn_exp", 4) * dim / 3)
    if args.get("ffn_dim_multiplier") is not None:
        hidden = int(args["ffn_dim_multiplier"] * hidden)
    multiple_of = args.get("multiple_of", 256)
    return multiple_of * ((hidden + multiple_of - 1) // multiple_of)


def _number(x: float) -> float | int:
    return int(x) if float(x).is_integer() else x


def params_from_config(config: ModelConfig) -> dict[str, Any]:
    if config.smear:
        raise CwmError("Meta's CWM has no smear: this model saves in the native format only")
    if config.copy_dim:
        raise CwmError("Meta's CWM has no copy head: this model saves in the native format only")
    model: dict[str, Any] = {
        "dim": config.dim,
        "n_layers": config.n_layers,
        "n_heads": config.n_heads,
        "n_kv_heads": config.n_kv_heads,
        "head_dim": config.head_dim,
        "vocab_size": config.vocab_size,
        "max_seq_len": config.max_seq_len,
        "norm_eps": config.norm_eps,
        "rope_theta": config.rope_theta,
        "pos_embed_impl": "rope" if config.rope_scaling is None else "scaled_rope",
        **_ffn_args(config),
        "window_attn": {
            "window_pattern": config.window_pattern,
            "local_window": config.local_window,
            "global_window": config.global_window,
            "global_last_layer": config.global_last_layer,
        },
    }
    if (s := config.rope_scaling) is not None:
        model["scaled_rope"] = {
            "scale_factor": _number(s.factor),
            "old_context_len": s.original_max_seq_len,
            "low_freq_factor": _number(s.low_freq_factor),
            "high_freq_factor": _number(s.high_freq_factor),
        }
    if config.vocab != DEFAULT_VOCAB_NAME:  # the tokenizer's vocabulary (cwm.core.tokenizer)
        model["cwm_vocab"] = config.vocab
    return {"model": model}


def config_from_params(params: Mapping[str, Any]) -> ModelConfig:
    args = params.get("model", params)  # the release nests under "model"; Llama does not
    n_heads = args["n_heads"]
    scaling = None
    if args.get("pos_embed_impl", "rope") == "scaled_rope":
        s = args.get("scaled_rope", {})
        scaling = RopeScaling(
            factor=float(s.get("scale_factor", 8)),
            low_freq_factor=float(s.get("low_freq_factor", 1)),
            high_freq_factor=float(s.get("high_freq_factor", 4)),
            original_max_seq_len=int(s.get("old_context_len", 8192)),
        )
    window = args.get("window_attn") or {}
    if args.get("use_scaled_rope"):  # Llama 3.1 params.json
        scaling = RopeScaling(factor=8.0)
    return ModelConfig(
        dim=args["dim"],
        n_layers=args["n_layers"],
        n_heads=n_heads,
        n_kv_heads=args.get("n_kv_heads") or n_heads,
        head_dim=args.get("head_dim") or args["dim"] // n_heads,
        ffn_dim=meta_ffn_dim(args["dim"], args),
        vocab_size=args["vocab_size"],
        norm_eps=args.get("norm_eps", 1e-5),
        rope_theta=float(args.get("rope_theta", 10000.0)),
        rope_scaling=scaling,
        window_pattern=window.get("window_pattern", 1),
        local_window=window.get("local_window"),
        global_window=window.get("global_window"),
        global_last_layer=window.get("global_last_layer", True),
        max_seq_len=args.get("max_seq_len", 131072),
        vocab=args.get("cwm_vocab", DEFAULT_VOCAB_NAME),
    )


# -- read / write ------------------------------------------------------------------


def read_config(path: Path) -> ModelConfig:
    return config_from_params(json.loads((path / PARAMS).read_text()))


def verify(path: Path) -> ModelConfig:
    """The config, once the weights are readable and their shapes fit it (.pth weights
    are memory-mapped: only their shapes are read)."""
    return read(path)[0]


def read(path: Path) -> tuple[ModelConfig, dict[str, Tensor]]:
    config = read_config(path)
    shards = sorted(path.glob("consolidated.*.pth"))
    if len(shards) == 1:
        state = torch.load(shards[0], map_location="cpu", weights_only=True, mmap=True)
    elif len(shards) > 1:
        raise CwmError(
            f"{path}: {len(shards)} consolidated shards are model-parallel slices; "
            "merge them into one consolidated.00.pth or use the DCP weights"
        )
    elif is_dcp(path):
        state = read_dcp(path, prefix="model.")
    else:
        raise CwmError(f"{path}: params.json found but no consolidated.00.pth or DCP weights")
    check_shapes(str(path / PARAMS), config, {k: tuple(v.shape) for k, v in state.items()})
    return config, _permute_qk(state, config, interleaved_to_half)


def write(config: ModelConfig, state: Mapping[str, Tensor], path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    (path / PARAMS).write_text(json.dumps(params_from_config(config), indent=2) + "\n")
    meta_state = _permute_qk({k: v.detach() for k, v in state.items()}, config, half_to_interleaved)
    torch.save(meta_state, path / CONSOLIDATED)
