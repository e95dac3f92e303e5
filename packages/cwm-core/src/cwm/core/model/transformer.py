"""The CWM decoder-only transformer: one definition for training, serving and RL.

model = build_model(FLAVORS["tiny"], seed=0)        # meta-device build + deterministic init
logits = model(tokens)                              # [B, S] -> [B, S, vocab]
logits = model(tokens, doc_ids=doc_ids)             # packed documents, document-causal
hidden = model.hidden_states(tokens)                # [B, S, dim], for a chunked loss
logits = model(new_tokens, cache=cache)             # incremental decoding (AttentionCache)
logits = model(new_tokens, cache=cache, previous=previous)  # ... of a model with `smear`

A model with a copy head (``config.copy_dim``) returns log-probabilities as its logits.
"""

from __future__ import annotations

import warnings
import zlib
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cwm.core.attention.masks import document_positions
from cwm.core.errors import CwmError
from cwm.core.model.blocks import Block, RMSNorm
from cwm.core.model.cache import AttentionCache
from cwm.core.model.config import ModelConfig
from cwm.core.model.copy import CopyHead
from cwm.core.model.rope import inv_freq, rope_tables
from cwm.core.model.smear import Smear, previous_embeddings


def attention_backend(name: str) -> Any:
    from cwm.core.plugins import registry

    return registry("attention").create(name)


class Transformer(nn.Module):
    """Token embedding, ``n_layers`` pre-norm blocks, final RMSNorm, untied output head."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.backend = attention_backend(config.attention)
        self.tok_embeddings = nn.Embedding(config.vocab_size, config.dim)
        self.smear = Smear(config.dim) if config.smear else None
        self.layers = nn.ModuleList(Block(config, i, self.backend) for i in range(config.n_layers))
        self.norm = RMSNorm(config.dim, config.norm_eps)
        self.output = nn.Linear(config.dim, config.vocab_size, bias=False)
        self.copy_head = CopyHead(config.dim, config.copy_dim) if config.copy_dim else None
        self._compiled: list[Any] | None = None
        #: off | pending (not run yet) | compiled | eager after failure: <error>
        self.compile_state = "off"
        if config.compile:
            self.compile_blocks()

    # -- forward -----------------------------------------------------------------

    def forward(
        self,
        tokens: Tensor,
        *,
        doc_ids: Tensor | None = None,
        positions: Tensor | None = None,
        cache: AttentionCache | None = None,
        previous: Tensor | None = None,
    ) -> Tensor:
        """Logits ``[B, S, vocab]`` for token ids ``[B, S]``.

        ``doc_ids [B, S]``: packed documents (contiguous runs of equal ids); attention
        stays inside a document and positions restart at 0 at each document start
        unless ``positions`` is given. ``cache``: an `AttentionCache`; the new tokens
        attend to everything cached, and positions continue from the cache.
        ``previous [B, S]``: the id of the token before each one (-1 at a sequence
        start); a model with ``smear`` needs it with a cache, or when a row is not one
        sequence from its start (``smear.previous_tokens`` computes it for a row).
        """
        hidden = self.hidden_states(
            tokens, doc_ids=doc_ids, positions=positions, cache=cache, previous=previous
        )
        logits = self.output(hidden)
        if self.copy_head is None:
            return logits
        if cache is None:
            return self.copy_head.log_probs(logits, hidden, tokens, doc_ids)
        memory = getattr(cache, "copy", None)
        if memory is None:
            raise CwmError(
                f"{type(cache).__name__} keeps no copy memory, which a model with a copy head "
                "(copy_dim) decodes with; decode it with a DenseKVCache (cwm.core.model.greedy)"
            )
        if memory.length != cache.seq_len - tokens.shape[1]:  # e.g. a prefill by hidden_states
            raise CwmError(
                f"the copy memory holds {memory.length} tokens, the cache "
                f"{cache.seq_len - tokens.shape[1]}: decode a copy-head model with forward only"
            )
        return self.copy_head.decode_log_probs(logits, hidden, tokens, memory)

    def target_log_probs(
        self,
        hidden: Tensor,
        tokens: Tensor,
        labels: Tensor,
        select: Tensor,
        doc_ids: Tensor | None = None,
    ) -> Tensor:
        """log p(``labels[select]``) ``[n]`` from the hidden states of ``tokens [B, S]``
        (``labels[b, i]`` the token after ``tokens[b, i]``; ``select [B, S]`` bool): the
        output head runs on the selected positions only."""
        logits = self.output(hidden[select])
        if self.copy_head is None:
            return -F.cross_entropy(logits.float(), labels[select], reduction="none")
        return self.copy_head.target_log_probs(logits, hidden, tokens, labels, doc_ids, select)

    def hidden_states(
        self,
        tokens: Tensor,
        *,
        doc_ids: Tensor | None = None,
        positions: Tensor | None = None,
        cache: AttentionCache | None = None,
        previous: Tensor | None = None,
    ) -> Tensor:
        """The final normalized hidden states ``[B, S, dim]``: ``forward`` without the
        output head, so a trainer can compute the loss in chunks (``model.output``)."""
        b, s = tokens.shape
        if cache is not None and doc_ids is not None:
            raise ValueError("doc_ids (packed documents) cannot be combined with a KV cache")
        if positions is None:
            if cache is not None:
                positions = cache.positions(s)
            elif doc_ids is not None:
                positions = document_positions(doc_ids)
            else:
                positions = torch.arange(s, device=tokens.device)[None]  # same for every row
        x = self.tok_embeddings(tokens)
        if self.smear is not None:
            if cache is not None and previous is None:
                raise ValueError(
                    "a model with smear decodes with `previous` (the token ids before)"
                )
            x = self.smear(x, previous_embeddings(x, self.tok_embeddings, doc_ids, previous))
        cos, sin = rope_tables(positions, inv_freq(self.config, tokens.device), x.dtype)
        masks: dict[int | None, Any] = {}
        if cache is None:
            for w in set(self.config.layer_windows()):
                masks[w] = self.backend.prepare(
                    seq_len=s, doc_ids=doc_ids, window=w, batch=b, device=tokens.device
                )
        for i, block in enumerate(self.layers):
            mask = masks.get(block.attention.window)
            x = self._run_block(i, block, x, cos, sin, mask, cache)
        return self.norm(x)

    def _run_block(self, i: int, block: Block, *args: Any) -> Tensor:
        compiled = self._compiled
        if compiled is None or args[-1] is not None:  # decoding runs eagerly
            return block(*args)
        try:
            out = compiled[i](*args)
        except Exception as exc:
            from torch._dynamo.exc import TorchDynamoException  # slow to import: only here

            if not isinstance(exc, TorchDynamoException) or self.config.compile_strict:
                raise
            # e.g. no C++ compiler for inductor on this machine
            error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            warnings.warn(
                f"torch.compile of the transformer blocks failed ({error}); running eagerly. "
                "Set model.compile=false to silence this, or model.compile_strict=true "
                "to stop on it.",
                RuntimeWarning,
                stacklevel=3,
            )
            self._compiled = None
            self.compile_state = f"eager after failure: {error}"
            return block(*args)
        self.compile_state = "compiled"
        return out

    # -- setup -------------------------------------------------------------------

    def compile_blocks(self, **options: Any) -> None:
        """``torch.compile`` each block separately (one graph, reused by every layer of the
        same shape). The first failure to compile falls back to eager with a warning, or
        raises with ``config.compile_strict``."""
        self._compiled = [torch.compile(block, **options) for block in self.layers]
        self.compile_state = "pending"

    def describe(self) -> dict[str, Any]:
        """What runs: the attention backend and whether the blocks really run compiled
        (``compile``: off, pending until the first forward, compiled, or eager after a
        failure with its error)."""
        return {"attention": self.config.attention, "compile": self.compile_state}

    def set_attention(self, name: str) -> None:
        """Switch every layer to the attention backend registered as ``name``."""
        self.backend = attention_backend(name)
        for block in self.layers:
            block.attention.backend = self.backend
        self.config = _replace(self.config, attention=name)

    @torch.no_grad()
    def init_weights(self, seed: int = 0) -> None:
        """Deterministic initialization: each tensor comes from its own CPU generator seeded
        by (seed, parameter name), so the values do not depend on the device, the dtype of
        the random draw, sharding, or the order parameters are visited in."""
        std = self.config.init_std
        residual_std = std / (2 * self.config.n_layers) ** 0.5
        for name, param in self.named_parameters():
            if name.endswith("norm.weight"):
                _fill(param, torch.ones(param.shape))
                continue
            scale = residual_std if name.endswith(("wo.weight", "w2.weight")) else std
            gen = torch.Generator().manual_seed(zlib.crc32(f"{seed}:{name}".encode()))
            _fill(param, torch.empty(param.shape).normal_(0.0, scale, generator=gen))

    # -- accounting --------------------------------------------------------------

    def num_params(self, *, embedding: bool = True) -> int:
        n = sum(p.numel() for p in self.parameters())
        return n if embedding else n - self.tok_embeddings.weight.numel()

    def flops_per_token(self, seq_len: int) -> int:
        """Training FLOPs per token; see `ModelConfig.flops_per_token`."""
        return self.config.flops_per_token(seq_len)


def _fill(param: Tensor, full: Tensor) -> None:
    """Copy a full CPU tensor into a parameter, which may be a sharded DTensor (every rank
    holds the same full tensor, so each keeps its own shard without communicating)."""
    from torch.distributed.tensor import DTensor, distribute_tensor

    if isinstance(param, DTensor):
        full = distribute_tensor(
            full.to(param.device_mesh.device_type),
            param.device_mesh,
            param.placements,
            src_data_rank=None,
        )
    param.copy_(full)


def _replace(config: ModelConfig, **changes: Any) -> ModelConfig:
    import msgspec

    return msgspec.structs.replace(config, **changes)


def build_model(
    config: ModelConfig,
    *,
    device: torch.device | str = "cpu",
    dtype: torch.dtype | None = None,
    seed: int | None = 0,
) -> Transformer:
    """Construct on the meta device (no memory, no wasted random init), materialize on
    ``device`` in ``dtype``, then `init_weights(seed)`; ``seed=None`` leaves the weights
    uninitialized for a checkpoint to fill."""
    with torch.device("meta"):
        model = Transformer(config)
    model.to_empty(device=device)
    if dtype is not None:
        model.to(dtype)
    if seed is not None:
        model.init_weights(seed)
    return model
