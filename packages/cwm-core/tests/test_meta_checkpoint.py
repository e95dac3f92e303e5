"""Meta's native layout: params.json + consolidated or DCP weights, q/k interleaved."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

torch = pytest.importorskip("torch")

from model_shapes import small_config  # noqa: E402

from cwm.core.checkpoint import convert, load_checkpoint, meta, save_checkpoint  # noqa: E402
from cwm.core.checkpoint.dcp_io import save as dcp_save  # noqa: E402
from cwm.core.errors import CwmError  # noqa: E402
from cwm.core.model import FLAVORS, build_model  # noqa: E402
from cwm.core.model.rope import apply_rope, inv_freq, rope_tables  # noqa: E402


def test_round_trip_keeps_config_and_weights(tmp_path: Path) -> None:
    model = build_model(small_config(2), seed=2)
    save_checkpoint(model, tmp_path / "meta", format="meta")
    loaded = load_checkpoint(tmp_path / "meta")
    # params.json has no init_std; every field the weights depend on survives
    assert loaded.config == msgspec.structs.replace(model.config, init_std=0.02)
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name


def test_interleaved_rope_on_meta_weights_gives_our_attention_scores(tmp_path: Path) -> None:
    """What Meta's code computes (complex RoPE on interleaved pairs) from the saved weights
    equals what we compute (rotate-half) from ours: the permutation is the right one."""
    config = small_config(1)
    model = build_model(config, seed=1)
    save_checkpoint(model, tmp_path, format="meta")
    theirs = torch.load(tmp_path / meta.CONSOLIDATED, weights_only=True)
    s, h, kvh, d = 12, config.n_heads, config.n_kv_heads, config.head_dim
    x = torch.randn(1, s, config.dim)
    freqs = inv_freq(config)
    cis = torch.polar(torch.ones(s, d // 2), torch.arange(s)[:, None].float() * freqs)

    def meta_rope(w: torch.Tensor, heads: int) -> torch.Tensor:
        pairs = (x @ w.T).view(1, s, heads, d // 2, 2)
        return torch.view_as_real(torch.view_as_complex(pairs) * cis[None, :, None]).flatten(3)

    q_meta = meta_rope(theirs["layers.0.attention.wq.weight"], h)
    k_meta = meta_rope(theirs["layers.0.attention.wk.weight"], kvh)
    attn = model.layers[0].attention
    cos, sin = rope_tables(torch.arange(s)[None], freqs, torch.float32)
    q_ours = apply_rope(attn.wq(x).view(1, s, h, d), cos, sin)
    k_ours = apply_rope(attn.wk(x).view(1, s, kvh, d), cos, sin)

    def scores(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bqhd,bkhd->bhqk", q, k.repeat_interleave(h // kvh, dim=2))

    torch.testing.assert_close(scores(q_meta, k_meta), scores(q_ours, k_ours))
    assert not torch.allclose(theirs["layers.0.attention.wq.weight"], attn.wq.weight)


def test_release_style_dcp_weights_load(tmp_path: Path) -> None:
    """The release ships params.json with DCP files keyed ``model.<name>``."""
    model = build_model(small_config(3), seed=3)
    save_checkpoint(model, tmp_path / "consolidated", format="meta")
    state = torch.load(tmp_path / "consolidated" / meta.CONSOLIDATED, weights_only=True)
    (tmp_path / "dcp").mkdir()
    dcp_save({"model": state}, tmp_path / "dcp")
    (tmp_path / "dcp" / meta.PARAMS).write_text(
        (tmp_path / "consolidated" / meta.PARAMS).read_text()
    )
    loaded = load_checkpoint(tmp_path / "dcp")
    tokens = torch.randint(0, 512, (1, 20))
    torch.testing.assert_close(loaded(tokens), model(tokens))


def test_cwm_32b_params_use_the_release_ffn_formula() -> None:
    params = meta.params_from_config(FLAVORS["cwm-32b"])["model"]
    assert (params["ffn_exp"], params["multiple_of"], params["ffn_dim_multiplier"]) == (
        4,
        256,
        1.3125,
    )
    assert params["window_attn"] == {
        "window_pattern": 4,
        "local_window": 8192,
        "global_window": 131072,
        "global_last_layer": False,
    }
    assert params["scaled_rope"] == {
        "scale_factor": 16,
        "old_context_len": 8192,
        "low_freq_factor": 1,
        "high_freq_factor": 4,
    }
    assert meta.config_from_params({"model": params}) == FLAVORS["cwm-32b"]


def test_any_ffn_dim_survives_params_json() -> None:
    for ffn in (64, 96, 100, 1000, 4097):
        config = small_config(0, ffn_dim=ffn)
        assert meta.config_from_params(meta.params_from_config(config)).ffn_dim == ffn


def test_release_defaults_make_the_last_layer_global(tmp_path: Path) -> None:
    params = meta.params_from_config(small_config(0, n_layers=6, window_pattern=4))
    del params["model"]["window_attn"]["global_last_layer"]  # the release's default: True
    assert meta.config_from_params(params).layer_windows()[-1] is None


def test_hf_to_meta_to_hf_keeps_every_tensor(tmp_path: Path) -> None:
    model = build_model(small_config(4), seed=4)
    save_checkpoint(model, tmp_path / "hf", format="hf")
    assert convert(tmp_path / "hf", tmp_path / "meta", to="meta") == "hf"
    assert convert(tmp_path / "meta", tmp_path / "hf2", to="hf") == "meta"
    original = (tmp_path / "hf" / "model.safetensors").read_bytes()
    assert (tmp_path / "hf2" / "model.safetensors").read_bytes() == original
    params = json.loads((tmp_path / "meta" / meta.PARAMS).read_text())["model"]
    assert params["n_layers"] == model.config.n_layers


@pytest.mark.parametrize("fmt", ["hf", "meta"])
@pytest.mark.parametrize(
    ("change", "missing"), [({"smear": True}, "no smear"), ({"copy_dim": 8}, "no copy head")]
)
def test_a_smear_or_copy_head_model_saves_natively_only(
    tmp_path: Path, fmt: str, change: dict, missing: str
) -> None:
    model = build_model(small_config(2, **change), seed=2)
    with pytest.raises(CwmError, match=missing):
        save_checkpoint(model, tmp_path / fmt, format=fmt)
    assert not any((tmp_path / fmt).glob("*"))  # nothing half-written
    save_checkpoint(model, tmp_path / "native")
    loaded = load_checkpoint(tmp_path / "native")
    assert loaded.config == model.config
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name
