"""Model configs and flavors: no torch needed."""

from __future__ import annotations

import msgspec
import pytest

from cwm.core.config import ConfigError, load_config
from cwm.core.errors import CwmError
from cwm.core.model import FLAVORS, ModelConfig, flavor
from cwm.core.tokenizer import Tokenizer


def test_small_flavors_use_the_embedded_tokenizer_vocabulary() -> None:
    n_vocab = Tokenizer().n_vocab
    for name in ("debug", "tiny", "150m", "1b"):
        assert FLAVORS[name].vocab_size == n_vocab == 16_640


def test_cwm_32b_has_the_released_shape() -> None:
    c = FLAVORS["cwm-32b"]
    assert (c.n_layers, c.dim, c.n_heads, c.n_kv_heads, c.head_dim, c.ffn_dim) == (
        64,
        6144,
        48,
        8,
        128,
        21504,
    )
    assert c.vocab_size == 128_256 and c.rope_theta == 1e6 and c.norm_eps == 1e-5
    s = c.rope_scaling
    assert s is not None
    assert (s.factor, s.low_freq_factor, s.high_freq_factor, s.original_max_seq_len) == (
        16.0,
        1.0,
        4.0,
        8192,
    )
    windows = c.layer_windows()
    assert windows[:8] == [131072, 8192, 8192, 8192, 131072, 8192, 8192, 8192]
    assert windows.count(131072) == 16  # 3:1 local:global
    assert 32.0e9 < c.num_params() < 33.0e9


def test_flavor_sizes_are_what_their_names_say() -> None:
    assert 140e6 < FLAVORS["150m"].num_params() < 160e6
    assert 0.9e9 < FLAVORS["1b"].num_params() < 1.1e9
    assert FLAVORS["debug"].num_params() < FLAVORS["tiny"].num_params() < 20e6


def test_global_last_layer_makes_the_last_layer_global() -> None:
    c = ModelConfig(n_layers=6, window_pattern=4, local_window=8, global_window=None)
    assert c.layer_windows() == [None, 8, 8, 8, None, 8]
    c = ModelConfig(
        n_layers=6, window_pattern=4, local_window=8, global_window=None, global_last_layer=True
    )
    assert c.layer_windows() == [None, 8, 8, 8, None, None]


def test_flops_per_token_counts_matmuls_and_windowed_attention() -> None:
    c = ModelConfig(
        dim=8,
        n_layers=2,
        n_heads=2,
        n_kv_heads=1,
        head_dim=4,
        ffn_dim=16,
        vocab_size=10,
        window_pattern=2,
        local_window=3,
        global_window=None,
    )
    per_layer = 8 * 4 * (2 + 1 + 1 + 2) + 3 * 8 * 16 + 2 * 8  # q,k,v,o + SwiGLU + 2 norms
    matmul_params = 2 * per_layer + 8 + 10 * 8  # + final norm + output head
    assert c.num_params(embedding=False) == matmul_params
    assert c.num_params() == matmul_params + 10 * 8
    # layer 0 global sees all 100 keys, layer 1 its window of 3
    assert c.flops_per_token(100) == 6 * matmul_params + 12 * 2 * 4 * (100 + 3)
    # a copy head: q and k (2 x 8 x 5) and the gate (8 + 1), then its scores over 100 keys
    copy = msgspec.structs.replace(c, copy_dim=5)
    assert copy.num_params(embedding=False) == matmul_params + 2 * 8 * 5 + 8 + 1
    assert copy.flops_per_token(100) == 6 * (matmul_params + 89) + 12 * 2 * 4 * 103 + 6 * 5 * 100


def test_flavor_overrides_through_load_config() -> None:
    import msgspec

    preset = msgspec.to_builtins(flavor("tiny"))
    c = load_config(ModelConfig, None, ["n_layers=2", "rope_scaling.factor=4"], preset=preset)
    assert c.n_layers == 2 and c.dim == FLAVORS["tiny"].dim
    assert c.rope_scaling is not None and c.rope_scaling.factor == 4.0
    with pytest.raises(ConfigError, match="n_layers"):
        load_config(ModelConfig, None, ["n_layers=two"])


def test_invalid_shapes_are_one_line_errors() -> None:
    with pytest.raises(CwmError, match="multiple of n_kv_heads"):
        ModelConfig(n_heads=6, n_kv_heads=4)
    with pytest.raises(CwmError, match="unknown model flavor 'huge'; flavors: debug"):
        flavor("huge")
