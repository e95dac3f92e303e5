"""The transformer itself: construction, init, packing, accounting, compile."""

from __future__ import annotations

import msgspec
import pytest

torch = pytest.importorskip("torch")

from model_shapes import small_config  # noqa: E402

from cwm.core.errors import CwmError  # noqa: E402
from cwm.core.model import FLAVORS, Transformer, build_model  # noqa: E402


def test_the_32b_flavor_builds_on_the_meta_device_without_memory() -> None:
    with torch.device("meta"):
        model = Transformer(FLAVORS["cwm-32b"])
    assert all(p.is_meta for p in model.parameters())
    assert model.num_params() == FLAVORS["cwm-32b"].num_params()
    assert model.num_params(embedding=False) == FLAVORS["cwm-32b"].num_params(embedding=False)


def test_init_is_deterministic_and_independent_of_dtype() -> None:
    config = small_config(0)
    a, b = build_model(config, seed=3), build_model(config, seed=3)
    c = build_model(config, seed=4)
    half = build_model(config, seed=3, dtype=torch.bfloat16)
    for name, tensor in a.state_dict().items():
        assert torch.equal(tensor, b.state_dict()[name]), name
        assert torch.equal(tensor.bfloat16(), half.state_dict()[name]), name
        if not name.endswith("norm.weight"):
            assert not torch.equal(tensor, c.state_dict()[name]), name
    assert torch.equal(a.layers[0].attention_norm.weight, torch.ones(config.dim))
    # residual projections start smaller, as deep pre-norm stacks want
    assert a.layers[0].attention.wo.weight.std() < a.layers[0].attention.wq.weight.std()


@pytest.mark.parametrize(("smear", "copy_dim"), [(False, 0), (True, 0), (True, 8)])
def test_packed_documents_equal_separate_forwards(smear: bool, copy_dim: int) -> None:
    config = small_config(1, smear=smear, copy_dim=copy_dim)
    model = build_model(config, seed=1)
    lengths = [9, 14, 7]
    tokens = torch.randint(0, config.vocab_size, (1, sum(lengths)))
    doc_ids = torch.repeat_interleave(torch.tensor([4, 8, 15]), torch.tensor(lengths))[None]
    with torch.no_grad():
        packed = model(tokens, doc_ids=doc_ids)
        separate = torch.cat([model(part) for part in tokens.split(lengths, dim=1)], dim=1)
        # explicit positions are used as given (RoPE is relative: a constant shift
        # changes nothing, collapsing every position to 0 does)
        shifted = model(tokens, doc_ids=doc_ids, positions=torch.arange(30)[None] + 100)
        flat = model(tokens, doc_ids=doc_ids, positions=torch.zeros(1, 30, dtype=torch.long))
    torch.testing.assert_close(packed, separate, atol=1e-5, rtol=0)
    torch.testing.assert_close(shifted, packed, atol=1e-4, rtol=0)
    assert (flat - packed).abs().max() > 1e-2


def test_the_smear_mixes_in_the_previous_token_within_a_document_only() -> None:
    model = build_model(small_config(1, smear=True), seed=1)
    assert model.num_params() == model.config.num_params()
    tokens = torch.randint(0, 512, (1, 12), generator=torch.Generator().manual_seed(0))
    changed = tokens.clone()
    changed[0, 5] = (tokens[0, 5] + 1) % 512
    model.layers = torch.nn.ModuleList()  # no blocks: what reaches the head is the embedding
    with torch.no_grad():
        a, b = model(tokens), model(changed)
        docs = torch.tensor([[0] * 6 + [1] * 6])
        c, d = model(tokens, doc_ids=docs), model(changed, doc_ids=docs)
    moved = (a - b).abs().amax(-1)[0]
    assert moved[5] > 0 and moved[6] > 0  # the token itself and the one after it
    assert moved[[0, 1, 2, 3, 4, 7, 8]].max() == 0
    assert (c - d).abs().amax(-1)[0, 6] == 0  # a new document does not look back


def test_hidden_states_and_output_head_compose_to_logits() -> None:
    model = build_model(small_config(2), seed=2)
    tokens = torch.randint(0, 512, (2, 10))
    with torch.no_grad():
        hidden = model.hidden_states(tokens)
        assert hidden.shape == (2, 10, model.config.dim)
        torch.testing.assert_close(model.output(hidden), model(tokens))


def test_training_step_reduces_the_loss() -> None:
    model = build_model(FLAVORS["debug"], seed=0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    tokens = torch.randint(0, 1000, (4, 33), generator=torch.Generator().manual_seed(0))
    losses = []
    for _ in range(5):
        logits = model(tokens[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), tokens[:, 1:].flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.5


def test_unknown_attention_backend_lists_the_known_ones() -> None:
    with pytest.raises(
        CwmError, match="unknown attention 'nope'; installed: banded, flash, flex, sdpa"
    ):
        Transformer(msgspec.structs.replace(FLAVORS["debug"], attention="nope"))


def _compile_case():
    config = small_config(5, n_layers=2, dim=48, n_heads=2, n_kv_heads=1)
    tokens = torch.randint(
        0, config.vocab_size, (2, 24), generator=torch.Generator().manual_seed(0)
    )
    return build_model(config, seed=5), tokens


def test_compiled_blocks_match_eager_forward_and_backward() -> None:
    model, tokens = _compile_case()
    eager = model(tokens)
    eager.square().mean().backward()
    eager_grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    model.compile_blocks()
    compiled = model(tokens)
    compiled.square().mean().backward()
    torch.testing.assert_close(compiled, eager, atol=1e-5, rtol=1e-5)
    for name, param in model.named_parameters():
        torch.testing.assert_close(param.grad, eager_grads[name], atol=1e-5, rtol=1e-4)
    assert model._compiled is not None  # it really ran compiled


def test_a_failing_compile_falls_back_to_eager_with_a_warning() -> None:
    def broken_backend(graph, example_inputs):
        raise RuntimeError("no C++ compiler")

    model, tokens = _compile_case()
    with torch.no_grad():
        eager = model(tokens)
        model.compile_blocks(backend=broken_backend)
        with pytest.warns(RuntimeWarning, match="running eagerly"):
            out = model(tokens)
    torch.testing.assert_close(out, eager)
    assert model._compiled is None
    assert model.describe()["compile"].startswith("eager after failure: BackendCompilerFailed")


def test_strict_compile_raises_the_compile_failure() -> None:
    from torch._dynamo.exc import BackendCompilerFailed

    def broken_backend(graph, example_inputs):
        raise RuntimeError("no C++ compiler")

    model, tokens = _compile_case()
    model = build_model(msgspec.structs.replace(model.config, compile_strict=True), seed=5)
    model.compile_blocks(backend=broken_backend)
    with torch.no_grad(), pytest.raises(BackendCompilerFailed, match="no C\\+\\+ compiler"):
        model(tokens)
    assert model.describe()["compile"] == "pending"  # never claims to have compiled


def test_describe_says_whether_the_blocks_ran_compiled() -> None:
    model, tokens = _compile_case()
    assert model.describe() == {"attention": model.config.attention, "compile": "off"}
    model.compile_blocks(backend="eager")  # dynamo traces, no inductor: fast
    assert model.describe()["compile"] == "pending"
    with torch.no_grad():
        model(tokens)
    assert model.describe()["compile"] == "compiled"


class DtypeRecorder:
    """Stands in for a block's attention backend: records the dtypes it is handed."""

    def __init__(self, inner):
        self.inner, self.seen = inner, []

    def __call__(self, q, k, v, mask):
        self.seen.append((q.dtype, k.dtype, v.dtype))
        return self.inner(q, k, v, mask)


def test_under_bf16_autocast_attention_gets_q_k_and_v_in_bf16() -> None:
    """flash-attn rejects q/k in fp32 beside a bf16 v: RoPE must not promote q and k."""
    model = build_model(small_config(3), seed=0)
    recorder = DtypeRecorder(model.backend)
    for block in model.layers:
        block.attention.backend = recorder
    tokens = torch.randint(0, 512, (2, 16), generator=torch.Generator().manual_seed(0))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        model(tokens).float().mean().backward()
    assert recorder.seen == [(torch.bfloat16,) * 3] * len(model.layers)
