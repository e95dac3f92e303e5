"""Numerics and checkpoints against Hugging Face transformers' CwmForCausalLM (test-only)."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from model_shapes import small_config  # noqa: E402

from cwm.core.checkpoint import hf, load_checkpoint, save_checkpoint  # noqa: E402
from cwm.core.model import build_model  # noqa: E402
from cwm.core.model.config import ModelConfig  # noqa: E402
from cwm.core.model.transformer import Transformer  # noqa: E402


def hf_twin(model: Transformer, attn: str = "sdpa") -> transformers.CwmForCausalLM:
    """CwmForCausalLM with the config and weights of ``model``."""
    cfg = transformers.CwmConfig(**hf.config_to_hf(model.config, torch.float32))
    twin = transformers.CwmForCausalLM(cfg).eval()
    twin.config._attn_implementation = attn
    twin.load_state_dict({hf.to_hf_name(k): v for k, v in model.state_dict().items()})
    return twin


@pytest.mark.parametrize("seed", range(6))
def test_logits_equal_transformers(seed: int) -> None:
    config = small_config(seed)
    model = build_model(config, seed=seed)
    twin = hf_twin(model, attn="eager" if seed % 2 else "sdpa")
    tokens = torch.randint(
        0, config.vocab_size, (2, 40), generator=torch.Generator().manual_seed(seed)
    )
    assert tokens.shape[1] > config.local_window  # the local window is in play
    with torch.no_grad():
        ours, theirs = model(tokens), twin(tokens).logits
    assert ours.shape == (2, 40, config.vocab_size)
    torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=0)


@pytest.mark.parametrize(
    "change", [{"local_window": None}, {"rope_scaling": None}, {"window_pattern": 1}]
)
def test_the_parity_check_sees_windows_and_rope_scaling(change: dict) -> None:
    """Each feature the parity test relies on moves the logits far beyond its tolerance."""
    config = small_config(0)
    tokens = torch.randint(
        0, config.vocab_size, (1, 40), generator=torch.Generator().manual_seed(0)
    )
    with torch.no_grad():
        base = build_model(config, seed=0)(tokens)
        other = build_model(msgspec.structs.replace(config, **change), seed=0)(tokens)
    assert (base - other).abs().max() > 1e-2


def test_packed_documents_equal_separate_transformers_runs() -> None:
    config = small_config(3)
    model = build_model(config, seed=3)
    twin = hf_twin(model)
    lengths = [17, 5, 18]
    tokens = torch.randint(
        0, config.vocab_size, (1, sum(lengths)), generator=torch.Generator().manual_seed(1)
    )
    doc_ids = torch.repeat_interleave(torch.arange(3), torch.tensor(lengths))[None]
    with torch.no_grad():
        packed = model(tokens, doc_ids=doc_ids)
        separate = torch.cat([twin(part).logits for part in tokens.split(lengths, dim=1)], dim=1)
    torch.testing.assert_close(packed, separate, atol=1e-4, rtol=0)


def test_hf_to_ours_to_hf_is_byte_identical(tmp_path: Path) -> None:
    config = small_config(4)
    twin = hf_twin(build_model(config, seed=4))
    twin.save_pretrained(tmp_path / "hf")
    ours = load_checkpoint(tmp_path / "hf")
    save_checkpoint(ours, tmp_path / "back", format="hf")
    original = (tmp_path / "hf" / "model.safetensors").read_bytes()
    assert (tmp_path / "back" / "model.safetensors").read_bytes() == original
    # and transformers loads what we wrote, with the same numerics
    reloaded = transformers.CwmForCausalLM.from_pretrained(tmp_path / "back").eval()
    tokens = torch.randint(0, config.vocab_size, (1, 30))
    with torch.no_grad():
        torch.testing.assert_close(reloaded(tokens).logits, ours(tokens), atol=1e-4, rtol=0)
    assert reloaded.config.layer_types == twin.config.layer_types


def test_sharded_safetensors_round_trip(tmp_path: Path) -> None:
    model = build_model(small_config(5), seed=5)
    state = model.state_dict()
    hf.write(model.config, state, tmp_path, shard_bytes=20_000)
    assert len(list(tmp_path.glob("model-*-of-*.safetensors"))) > 1
    config, back = hf.read(tmp_path)
    # the same model, though the window pattern may be spelled differently
    assert hf.config_to_hf(config, torch.float32) == hf.config_to_hf(model.config, torch.float32)
    assert back.keys() == state.keys()
    assert all(torch.equal(back[k], state[k]) for k in state)


def test_bf16_checkpoint_keeps_its_dtype(tmp_path: Path) -> None:
    model = build_model(small_config(1), dtype=torch.bfloat16, seed=1)
    save_checkpoint(model, tmp_path, format="hf")
    loaded = load_checkpoint(tmp_path)
    assert loaded.output.weight.dtype == torch.bfloat16
    assert transformers.CwmConfig.from_pretrained(tmp_path).dtype == torch.bfloat16


def test_a_global_window_below_max_seq_len_cannot_be_saved_as_hf(tmp_path: Path) -> None:
    from cwm.core.errors import CwmError

    model = build_model(
        ModelConfig(
            n_layers=2,
            dim=32,
            n_heads=2,
            n_kv_heads=1,
            head_dim=16,
            ffn_dim=32,
            global_window=128,
            max_seq_len=256,
        )
    )
    with pytest.raises(CwmError, match="no global window"):
        save_checkpoint(model, tmp_path / "x", format="hf")
