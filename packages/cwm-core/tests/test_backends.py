"""Every available attention backend agrees with sdpa on packed sequences crossing the window."""

from __future__ import annotations

import itertools
import math
import warnings

import pytest

torch = pytest.importorskip("torch")

from model_shapes import small_config  # noqa: E402

from cwm.core.attention import flash as flash_module  # noqa: E402
from cwm.core.errors import CwmError  # noqa: E402
from cwm.core.model import build_model, greedy  # noqa: E402
from cwm.core.plugins import registry  # noqa: E402
from cwm.core.testing import sdpa_query_dtypes  # noqa: E402

DOCS = [13, 3, 20, 12]  # one row of 4 documents, several longer than the window
WINDOW = 5


def packed_inputs(dtype: torch.dtype = torch.float32, device: str = "cpu") -> tuple:
    gen = torch.Generator().manual_seed(0)
    s = sum(DOCS) // 2
    q, k, v = (torch.randn(2, s, h, 16, generator=gen) for h in (4, 2, 2))
    doc_ids = torch.repeat_interleave(torch.arange(len(DOCS)), torch.tensor(DOCS)).view(2, s)
    return tuple(t.to(device, dtype) for t in (q, k, v)), doc_ids.to(device)


def attend(
    name: str, qkv: tuple, doc_ids: torch.Tensor | None, window: int | None, **options
) -> torch.Tensor:
    backend = registry("attention").create(name, **options)
    q = qkv[0]
    mask = backend.prepare(
        seq_len=q.shape[1], doc_ids=doc_ids, window=window, batch=q.shape[0], device=q.device
    )
    return backend(*qkv, mask)


def available(name: str) -> bool:
    try:
        registry("attention").create(name)
    except CwmError:
        return False
    return True


def test_the_builtin_backends_are_registered() -> None:
    assert {"sdpa", "banded", "flex", "flash"} <= set(registry("attention").names())


@pytest.mark.parametrize("window", [None, WINDOW, 100])
@pytest.mark.parametrize("packed", [True, False])
@pytest.mark.parametrize("block", [4, 7, 128])
def test_banded_matches_sdpa_forward_and_backward(window, packed, block) -> None:
    """Blocks smaller than the window, not dividing the sequence, and one block for all."""
    qkv, doc_ids = packed_inputs()
    docs = doc_ids if packed else None
    outs, grads = [], []
    for name, options in (("banded", {"block": block}), ("sdpa", {})):
        leaves = [t.clone().requires_grad_() for t in qkv]
        out = attend(name, tuple(leaves), docs, window, **options)
        out.square().sum().backward()
        outs.append(out)
        grads.append([t.grad for t in leaves])
    torch.testing.assert_close(outs[0], outs[1])
    for mine, ref in zip(*grads):
        torch.testing.assert_close(mine, ref)


def test_banded_scores_only_the_band() -> None:
    backend = registry("attention").create("banded", block=128)
    bands = backend.prepare(seq_len=512, doc_ids=None, window=256, batch=1, device="cpu")
    scored = sum((q1 - q0) * (q1 - k0) for q0, q1, k0, _ in bands)
    assert scored == 128 * 128 + 128 * 256 + 128 * 383 + 128 * 383  # 44% fewer than 512 * 512
    docs = torch.repeat_interleave(torch.arange(2), torch.tensor([300, 212]))[None]
    bands = backend.prepare(seq_len=512, doc_ids=docs, window=None, batch=1, device="cpu")
    assert [k0 for _, _, k0, _ in bands] == [0, 0, 0, 300]  # nothing before the document start


@pytest.mark.parametrize("autocast", [False, True])
def test_banded_attends_in_fp32_on_cpu_for_bf16_inputs(autocast: bool) -> None:
    """bf16 inputs (as under the CPU backend's autocast) get the fp32 attention rounded
    once to bf16, forward and backward."""
    qkv, doc_ids = packed_inputs()
    low = [t.bfloat16().requires_grad_() for t in qkv]
    high = [t.bfloat16().float().requires_grad_() for t in qkv]
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        out = attend("banded", tuple(low), doc_ids, WINDOW)
    ref = attend("banded", tuple(high), doc_ids, WINDOW)
    assert out.dtype == torch.bfloat16
    assert torch.equal(out, ref.bfloat16())
    out.float().square().sum().backward()
    ref.bfloat16().float().square().sum().backward()
    for mine, exact in zip(low, high):
        assert torch.equal(mine.grad, exact.grad.bfloat16())


@pytest.mark.parametrize(
    ("dtypes", "head_dim", "computed"),
    [
        ((torch.bfloat16,) * 3, 32, torch.float32),
        ((torch.float16,) * 3, 64, torch.float32),
        ((torch.bfloat16,) * 3, 128, torch.bfloat16),  # large heads: bf16 kernels are faster
        ((torch.float32,) * 3, 32, torch.float32),
        ((torch.float64,) * 3, 32, torch.float64),
        ((torch.bfloat16, torch.float32, torch.float32), 32, torch.bfloat16),  # SDPA's error
    ],
)
def test_attention_on_cpu_computes_in_fp32_for_small_low_precision_heads(
    dtypes, head_dim, computed
) -> None:
    from cwm.core.attention.precision import attend_in_fp32_on_cpu

    q, k, v = (torch.ones(1, 2, 3, head_dim, dtype=d) for d in dtypes)
    calls = []

    def attend(q, k, v, scale):
        calls.append((q.dtype, k.dtype, v.dtype, torch.is_autocast_enabled("cpu")))
        return q * scale

    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = attend_in_fp32_on_cpu(attend, q, k, v, scale=2.0)
    assert calls[0][0] == computed
    if computed == torch.float32 and dtypes[0] != torch.float32:
        assert calls == [(torch.float32,) * 3 + (False,)]  # autocast off inside
    assert out.dtype == dtypes[0] and torch.equal(out.double(), torch.full(q.shape, 2.0).double())


def test_banded_can_keep_bf16_kernels_and_greedy_decodes_in_fp32() -> None:
    qkv, doc_ids = packed_inputs(torch.bfloat16)
    with sdpa_query_dtypes() as seen:
        attend("banded", qkv, doc_ids, WINDOW, fp32_on_cpu=False)
    assert seen and set(seen) == {torch.bfloat16}
    model = build_model(small_config(0), seed=0).to(torch.bfloat16)
    with sdpa_query_dtypes() as seen:
        out = greedy(model, torch.tensor([[1, 2, 3, 4]]), 3)  # the dense KV cache
    assert len(out[0]) == 3 and seen and set(seen) == {torch.float32}


@pytest.mark.parametrize("window", [None, WINDOW])
@pytest.mark.parametrize("packed", [True, False])
def test_flex_forward_matches_sdpa(window: int | None, packed: bool) -> None:
    qkv, doc_ids = packed_inputs()
    docs = doc_ids if packed else None
    with torch.no_grad():
        torch.testing.assert_close(
            attend("flex", qkv, docs, window), attend("sdpa", qkv, docs, window)
        )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("name", ["flex", "flash"])
@pytest.mark.parametrize("window", [None, WINDOW])
def test_gpu_forward_and_backward_match_sdpa(name: str, window: int | None) -> None:
    if not available(name):
        pytest.skip(f"attention {name!r} is not usable here")
    qkv, doc_ids = packed_inputs(torch.bfloat16, "cuda")
    qkv = tuple(t.requires_grad_() for t in qkv)
    out = attend(name, qkv, doc_ids, window)
    ref = attend("sdpa", qkv, doc_ids, window)
    torch.testing.assert_close(out, ref, atol=2e-2, rtol=2e-2)
    grads = torch.autograd.grad(out.float().square().sum(), qkv)
    ref_grads = torch.autograd.grad(ref.float().square().sum(), qkv)
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r, atol=5e-2, rtol=5e-2)


def test_flex_training_on_cpu_is_a_clear_error() -> None:
    qkv, doc_ids = packed_inputs()
    qkv = tuple(t.requires_grad_() for t in qkv)
    with pytest.raises(CwmError, match="no backward on CPU"):
        attend("flex", qkv, doc_ids, WINDOW)


def test_flex_compiles_once_for_the_module_and_without_deprecated_flags() -> None:
    """One compiled flex kernel and one compiled mask builder, made at import, serve every
    call on CUDA (torch deprecates create_block_mask's ``_compile=True``)."""
    from cwm.core.attention import flex

    assert flex.block_mask_builder("cuda") is flex.compiled_create_block_mask
    assert flex.block_mask_builder(torch.device("cuda", 0)) is flex.compiled_create_block_mask
    assert flex.block_mask_builder("cpu") is flex.create_block_mask
    qkv, doc_ids = packed_inputs()
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        attend("flex", qkv, doc_ids, WINDOW)


def test_flash_needs_its_package_and_a_gpu() -> None:
    if available("flash"):
        pytest.skip("flash-attn is usable here")
    with pytest.raises(CwmError, match="attention 'flash' needs"):
        registry("attention").create("flash")


# -- the flash wiring on CPU ---------------------------------------------------------
# flash-attn's kernels only run on a GPU. These stand-ins follow their documented
# semantics (packed varlen sequences; window_size=(left, right), causal) in plain torch,
# so the translation of doc ids and windows into their arguments is checked here too.


def _one_sequence(q, k, v, window_size):  # [S, H, D] each
    s, h, d = q.shape
    left = window_size[0]
    idx = torch.arange(s)
    keep = (idx[None] <= idx[:, None]) & ((left < 0) | (idx[:, None] - idx[None] <= left))
    k, v = (t.repeat_interleave(h // t.shape[1], dim=1) for t in (k, v))
    scores = torch.einsum("qhd,khd->hqk", q, k) / math.sqrt(d)
    probs = scores.masked_fill(~keep, float("-inf")).softmax(-1)
    return torch.einsum("hqk,khd->qhd", probs, v)


class FakeFlashAttn:
    @staticmethod
    def flash_attn_varlen_func(
        q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q, max_seqlen_k, causal, window_size
    ):
        assert causal and torch.equal(cu_seqlens_q, cu_seqlens_k)
        assert cu_seqlens_q.dtype == torch.int32
        bounds = cu_seqlens_q.tolist()
        assert max_seqlen_q == max(b - a for a, b in itertools.pairwise(bounds))
        return torch.cat(
            [
                _one_sequence(q[a:b], k[a:b], v[a:b], window_size)
                for a, b in itertools.pairwise(bounds)
            ]
        )

    @staticmethod
    def flash_attn_func(q, k, v, causal, window_size):
        assert causal
        return torch.stack([_one_sequence(*row, window_size) for row in zip(q, k, v)])


@pytest.mark.parametrize("window", [None, WINDOW])
@pytest.mark.parametrize("packed", [True, False])
def test_flash_arguments_reproduce_the_shared_mask(monkeypatch, window, packed) -> None:
    monkeypatch.setattr(flash_module, "flash_attn", lambda: FakeFlashAttn)
    monkeypatch.setattr(flash_module, "_check", lambda q: None)
    qkv, doc_ids = packed_inputs()
    docs = doc_ids if packed else None
    backend = flash_module.FlashAttention()
    mask = backend.prepare(
        seq_len=qkv[0].shape[1], doc_ids=docs, window=window, batch=2, device="cpu"
    )
    torch.testing.assert_close(backend(*qkv, mask), attend("sdpa", qkv, docs, window))


# -- whole model -----------------------------------------------------------------------


def test_the_model_agrees_across_available_backends() -> None:
    config = small_config(0, local_window=WINDOW)
    model = build_model(config, seed=0)
    tokens = torch.randint(
        0, config.vocab_size, (2, sum(DOCS) // 2), generator=torch.Generator().manual_seed(1)
    )
    _, doc_ids = packed_inputs()
    checked = []
    with torch.no_grad():  # forward only: flex has no backward on CPU (GPU test above)
        model.set_attention("sdpa")
        reference = model(tokens, doc_ids=doc_ids)
        for name in registry("attention").names():
            if name != "sdpa" and available(name):
                model.set_attention(name)
                torch.testing.assert_close(
                    model(tokens, doc_ids=doc_ids), reference, atol=1e-4, rtol=0
                )
                checked.append(name)
    assert {"banded", "flex"} <= set(checked)
