"""Model shapes shared by the model tests."""

from __future__ import annotations

import random
from typing import Any

import msgspec

from cwm.core.model.config import ModelConfig, RopeScaling


def small_config(seed: int, **changes: Any) -> ModelConfig:
    """A random small shape: GQA, Llama-3 RoPE scaling that bites at these lengths, a local
    window shorter than the test sequences, and a random local/global layer pattern."""
    rng = random.Random(seed)
    n_kv = rng.choice([1, 2])
    config = ModelConfig(
        dim=rng.choice([48, 96]),  # transformers wants dim % n_heads == 0
        n_layers=rng.randint(2, 5),
        n_heads=n_kv * rng.choice([2, 3]),
        n_kv_heads=n_kv,
        head_dim=rng.choice([8, 16]),
        ffn_dim=rng.choice([64, 96]),
        vocab_size=512,
        rope_theta=10_000.0,
        rope_scaling=RopeScaling(factor=8.0, original_max_seq_len=16),
        window_pattern=rng.choice([2, 3, 4]),
        global_last_layer=rng.random() < 0.5,
        local_window=rng.randint(4, 12),
        global_window=None,
        max_seq_len=64,
        init_std=0.15,  # large enough that attention patterns move the logits
    )
    return msgspec.structs.replace(config, **changes)
