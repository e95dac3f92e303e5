"""Hugging Face ``CwmForCausalLM`` checkpoints: config.json + safetensors (sharded or not).

Our parameter names are Meta's; HF's differ only by name (both store q/k in the
rotate-half layout), so a round trip through our model writes the same bytes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from tqdm import tqdm

from cwm.core.checkpoint.dtypes import name_of, state_dtype
from cwm.core.checkpoint.integrity import check_shapes
from cwm.core.errors import CwmError
from cwm.core.model.config import ModelConfig, RopeScaling
from cwm.core.tokenizer.specials import BEGIN_OF_TEXT, NAMED_OFFSETS, NUM_RESERVED, STOP_TOKENS
from cwm.core.tokenizer.tokenizer import DEFAULT_VOCAB_NAME

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
INDEX = "model.safetensors.index.json"
SHARD_BYTES = 5 * 1024**3

GLOBAL_NAMES = {
    "tok_embeddings.weight": "model.embed_tokens.weight",
    "norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
}
LAYER_NAMES = {
    "attention.wq.weight": "self_attn.q_proj.weight",
    "attention.wk.weight": "self_attn.k_proj.weight",
    "attention.wv.weight": "self_attn.v_proj.weight",
    "attention.wo.weight": "self_attn.o_proj.weight",
    "feed_forward.w1.weight": "mlp.gate_proj.weight",
    "feed_forward.w2.weight": "mlp.down_proj.weight",
    "feed_forward.w3.weight": "mlp.up_proj.weight",
    "attention_norm.weight": "input_layernorm.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
}
_LAYER = re.compile(r"^(model\.)?layers\.(\d+)\.(.+)$")


def to_hf_name(name: str) -> str:
    if name in GLOBAL_NAMES:
        return GLOBAL_NAMES[name]
    m = _LAYER.match(name)
    if m is None or m.group(3) not in LAYER_NAMES:
        raise CwmError(f"no Hugging Face name for parameter {name!r}")
    return f"model.layers.{m.group(2)}.{LAYER_NAMES[m.group(3)]}"


def from_hf_name(name: str) -> str:
    for ours, theirs in GLOBAL_NAMES.items():
        if name == theirs:
            return ours
    m = _LAYER.match(name)
    inverse = {v: k for k, v in LAYER_NAMES.items()}
    if m is None or m.group(1) is None or m.group(3) not in inverse:
        raise CwmError(f"unexpected tensor {name!r} in a CwmForCausalLM checkpoint")
    return f"layers.{m.group(2)}.{inverse[m.group(3)]}"


# -- config ----------------------------------------------------------------------


def config_to_hf(config: ModelConfig, dtype: torch.dtype) -> dict[str, Any]:
    if config.smear:
        raise CwmError("transformers' Cwm has no smear: this model saves in the native format only")
    if config.copy_dim:
        raise CwmError(
            "transformers' Cwm has no copy head: this model saves in the native format only"
        )
    if config.dim % config.n_heads:
        raise CwmError(
            f"transformers' CwmConfig requires dim ({config.dim}) to be a multiple of "
            f"n_heads ({config.n_heads}); this shape cannot be saved in the hf format"
        )
    global_window = config.global_window
    if global_window is not None and global_window < config.max_seq_len:
        raise CwmError(
            f"CwmForCausalLM has no global window: global_window ({global_window}) must be "
            f"unset or >= max_seq_len ({config.max_seq_len}) to save in the hf format"
        )
    local = config.local_window
    layer_types = [
        "full_attention" if config.is_global(i) or local is None else "sliding_attention"
        for i in range(config.n_layers)
    ]
    rope: dict[str, Any] = {"rope_theta": config.rope_theta, "rope_type": "default"}
    if (s := config.rope_scaling) is not None:
        rope |= {
            "rope_type": "llama3",
            "factor": s.factor,
            "low_freq_factor": s.low_freq_factor,
            "high_freq_factor": s.high_freq_factor,
            "original_max_position_embeddings": s.original_max_seq_len,
        }
    ranks = config.vocab_size - NUM_RESERVED  # the special block follows the BPE ranks
    return {
        "architectures": ["CwmForCausalLM"],
        "model_type": "cwm",
        "vocab_size": config.vocab_size,
        "hidden_size": config.dim,
        "intermediate_size": config.ffn_dim,
        "num_hidden_layers": config.n_layers,
        "num_attention_heads": config.n_heads,
        "num_key_value_heads": config.n_kv_heads,
        "head_dim": config.head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": config.max_seq_len,
        "initializer_range": config.init_std,
        "rms_norm_eps": config.norm_eps,
        "rope_parameters": rope,
        "sliding_window": local,
        "layer_types": layer_types,
        "attention_dropout": 0.0,
        "mlp_bias": False,
        "tie_word_embeddings": False,
        "bos_token_id": ranks + NAMED_OFFSETS[BEGIN_OF_TEXT],
        "eos_token_id": [ranks + NAMED_OFFSETS[t] for t in STOP_TOKENS],
        "dtype": name_of(dtype),
    } | ({"cwm_vocab": config.vocab} if config.vocab != DEFAULT_VOCAB_NAME else {})


def _window_pattern(layer_types: list[str]) -> tuple[int, bool]:
    """The (window_pattern, global_last_layer) that gives these layer types."""
    n = len(layer_types)
    for last in (False, True):
        for pattern in range(1, n + 1):
            want = [
                "full_attention"
                if (i % pattern == 0 or (last and i == n - 1))
                else "sliding_attention"
                for i in range(n)
            ]
            if want == layer_types:
                return pattern, last
    raise CwmError(
        f"layer_types {layer_types} is not a window pattern (global every N layers, "
        "optionally the last one too); this checkpoint cannot be represented"
    )


def config_from_hf(data: Mapping[str, Any]) -> ModelConfig:
    if data.get("model_type") != "cwm":
        raise CwmError(f"config.json has model_type {data.get('model_type')!r}, expected 'cwm'")
    rope = data.get("rope_parameters") or data.get("rope_scaling") or {}
    theta = rope.get("rope_theta", data.get("rope_theta", 1_000_000.0))
    scaling = None
    if rope.get("rope_type", rope.get("type", "default")) == "llama3":
        scaling = RopeScaling(
            factor=float(rope["factor"]),
            low_freq_factor=float(rope["low_freq_factor"]),
            high_freq_factor=float(rope["high_freq_factor"]),
            original_max_seq_len=int(rope["original_max_position_embeddings"]),
        )
    elif rope.get("rope_type", "default") != "default":
        raise CwmError(f"unsupported rope_type {rope.get('rope_type')!r} (llama3 or default)")
    n_layers = data["num_hidden_layers"]
    layer_types = data.get("layer_types") or [
        "full_attention" if i % 4 == 0 else "sliding_attention" for i in range(n_layers)
    ]
    pattern, last = _window_pattern(list(layer_types))
    max_len = data.get("max_position_embeddings", 131072)
    n_heads = data["num_attention_heads"]
    return ModelConfig(
        dim=data["hidden_size"],
        n_layers=n_layers,
        n_heads=n_heads,
        n_kv_heads=data.get("num_key_value_heads") or n_heads,
        head_dim=data.get("head_dim") or data["hidden_size"] // n_heads,
        ffn_dim=data["intermediate_size"],
        vocab_size=data["vocab_size"],
        norm_eps=data.get("rms_norm_eps", 1e-5),
        rope_theta=float(theta),
        rope_scaling=scaling,
        window_pattern=pattern,
        global_last_layer=last,
        local_window=data.get("sliding_window"),
        global_window=max_len,
        max_seq_len=max_len,
        init_std=data.get("initializer_range", 0.02),
        vocab=data.get("cwm_vocab", DEFAULT_VOCAB_NAME),
    )


# -- weights ---------------------------------------------------------------------


def read_config(path: Path) -> ModelConfig:
    return config_from_hf(json.loads((path / CONFIG).read_text()))


def _weight_files(path: Path) -> list[str]:
    if (path / INDEX).exists():
        return sorted(set(json.loads((path / INDEX).read_text())["weight_map"].values()))
    if (path / WEIGHTS).exists():
        return [WEIGHTS]
    raise CwmError(f"{path}: config.json found but no {WEIGHTS} or {INDEX}")


def verify(path: Path) -> ModelConfig:
    """The config, once every safetensors file is whole (safetensors checks that its
    header covers the file) and the shapes in the headers fit the config."""
    from safetensors import safe_open

    config = read_config(path)
    shapes: dict[str, tuple[int, ...]] = {}
    for name in _weight_files(path):
        if not (path / name).is_file():
            raise CwmError(f"{path / name} is missing: the checkpoint is incomplete; copy it again")
        with safe_open(str(path / name), "pt") as f:
            for key in f.keys():  # noqa: SIM118 (a safetensors handle, not a dict)
                shapes[from_hf_name(key)] = tuple(f.get_slice(key).get_shape())
    check_shapes(str(path / CONFIG), config, shapes)
    return config


def read(path: Path) -> tuple[ModelConfig, dict[str, Tensor]]:
    from safetensors.torch import load_file

    config = verify(path)
    files = _weight_files(path)
    state: dict[str, Tensor] = {}
    for name in tqdm(files, desc="reading safetensors", unit="file", disable=len(files) < 2):
        for key, tensor in load_file(path / name).items():
            state[from_hf_name(key)] = tensor
    return config, state


def write(
    config: ModelConfig, state: Mapping[str, Tensor], path: Path, *, shard_bytes: int = SHARD_BYTES
) -> None:
    from safetensors.torch import save_file

    hf_config = config_to_hf(config, state_dtype(state))  # refuses what HF cannot hold
    tensors = {to_hf_name(k): v.detach().contiguous() for k, v in state.items()}
    shards: list[dict[str, Tensor]] = [{}]
    size = 0
    for name, tensor in tensors.items():  # greedy in parameter order, as HF does
        nbytes = tensor.numel() * tensor.element_size()
        if shards[-1] and size + nbytes > shard_bytes:
            shards.append({})
            size = 0
        shards[-1][name] = tensor
        size += nbytes
    path.mkdir(parents=True, exist_ok=True)
    (path / CONFIG).write_text(json.dumps(hf_config, indent=2, sort_keys=True) + "\n")
    if len(shards) == 1:
        save_file(shards[0], path / WEIGHTS, metadata={"format": "pt"})
        return
    weight_map = {}
    progress = tqdm(shards, desc="writing safetensors", unit="file", disable=len(shards) < 2)
    for i, shard in enumerate(progress, 1):
        name = f"model-{i:05d}-of-{len(shards):05d}.safetensors"
        save_file(shard, path / name, metadata={"format": "pt"})
        weight_map |= dict.fromkeys(shard, name)
    total = sum(t.numel() * t.element_size() for t in tensors.values())
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (path / INDEX).write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
