"""The copy head: a distribution, the copy itself, the loss's log-probabilities."""

import msgspec
import pytest

torch = pytest.importorskip("torch")

from model_shapes import small_config  # noqa: E402

from cwm.core.errors import CwmError  # noqa: E402
from cwm.core.model import DenseKVCache, build_model  # noqa: E402


def test_a_copy_head_model_returns_log_probabilities() -> None:
    model = build_model(small_config(1, copy_dim=8), seed=1)
    assert model.num_params() == model.config.num_params()
    tokens = torch.randint(0, 512, (2, 20), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        logp = model(tokens, doc_ids=torch.tensor([[0] * 8 + [1] * 12] * 2))
    torch.testing.assert_close(logp.exp().sum(-1), torch.ones(2, 20))


def test_a_closed_gate_copies_the_token_after_the_match() -> None:
    """With the gate shut on the model's softmax and queries equal to keys of the same
    token, the head predicts what followed the earlier occurrence of the current token."""
    config = small_config(2, copy_dim=32)
    model = build_model(config, seed=2)
    head = model.copy_head
    with torch.no_grad():
        head.gate.weight.zero_()
        head.gate.bias.fill_(-30.0)  # g ~ 0: all copy
        # queries and keys read the token's own embedding (no blocks, so the hidden state
        # is the normed embedding): q(h_i) . k(h_(j-1)) is large when t_i = t_(j-1)
        model.layers = torch.nn.ModuleList()
        emb = torch.nn.functional.normalize(torch.randn(512, config.dim), dim=-1) * config.dim**0.5
        model.tok_embeddings.weight.copy_(emb)
        eye = torch.eye(config.dim)[:32] * 4.0
        head.q.weight.copy_(eye)
        head.k.weight.copy_(eye)
    sequence = torch.randperm(500, generator=torch.Generator().manual_seed(3))[:10]
    tokens = torch.cat([sequence, sequence])[None]
    with torch.no_grad():
        predicted = model(tokens)[0].argmax(-1)
    # in the second copy, after token i of the sequence comes token i + 1
    assert predicted[10:19].tolist() == sequence[1:].tolist()


def test_the_loss_log_probabilities_are_the_forwards() -> None:
    model = build_model(small_config(3, copy_dim=8), seed=3)
    tokens = torch.randint(0, 512, (2, 24), generator=torch.Generator().manual_seed(1))
    tokens[:, 12:] = tokens[:, :12]  # something to copy
    doc_ids = torch.tensor([[0] * 10 + [1] * 14, [0] * 24])
    labels = torch.roll(tokens, -1, dims=1)
    select = torch.ones(2, 24, dtype=torch.bool)
    select[:, -1] = False
    select[0, :3] = False
    with torch.no_grad():
        full = model(tokens, doc_ids=doc_ids).gather(2, labels[..., None])[..., 0][select]
        hidden = model.hidden_states(tokens, doc_ids=doc_ids)
        targeted = model.target_log_probs(hidden, tokens, labels, select, doc_ids)
    torch.testing.assert_close(targeted, full, atol=1e-5, rtol=0)


def test_decoding_a_copy_head_model_without_its_memory_is_a_clear_error() -> None:
    config = small_config(1, copy_dim=8)
    model = build_model(config, seed=1)
    tokens = torch.zeros(1, 3, dtype=torch.long)
    plain = DenseKVCache(msgspec.structs.replace(config, copy_dim=0), batch_size=1, max_len=8)
    with pytest.raises(CwmError, match="no copy memory"):
        model(tokens, cache=plain)
    cache = DenseKVCache.for_model(model, batch_size=1, max_len=8)
    model.hidden_states(tokens, cache=cache)  # a prefill the copy memory never saw
    with pytest.raises(CwmError, match="copy memory holds 0 tokens, the cache 3"):
        model(tokens[:, :1], cache=cache)
