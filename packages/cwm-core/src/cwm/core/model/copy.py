"""The copy head: a pointer over the tokens already in the sequence, mixed into the
output distribution (a pointer-generator).

For the hidden state ``h_i`` that predicts token ``i + 1``::

    p(v) = g_i * softmax(W_out h_i)[v] + (1 - g_i) * sum_j a_ij [t_j = v]
    a_ij = softmax over 1 <= j <= i (in h_i's document) of q(h_i) . k(h_(j-1)) / sqrt(d)
    g_i  = sigmoid(w . h_i + b)

Candidate ``j`` is keyed by the state before it, so attending to it means "what came
after the place that looks like here", and its value is the token itself: copying
needs no learnt output mapping, only the match. A small model learns to copy a name
from the source into a trace frame that way in minutes instead of not at all (cwm-train's
README, the demo's ablation). With the head, the model returns log-probabilities, which
are logits of the same distribution. Not a CWM or transformers architecture.

Decoding keeps each row's keys and tokens in a `CopyMemory` (`DenseKVCache.copy`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cwm.core.errors import CwmError


class CopyMemory:
    """Each row's copy keys and tokens so far, for decoding with a `DenseKVCache`."""

    def __init__(self, batch_size: int, max_len: int, dim: int, device: torch.device | str):
        self.keys = torch.zeros(batch_size, max_len, dim, device=device)
        self.tokens = torch.zeros(batch_size, max_len, dtype=torch.long, device=device)
        self.length = 0

    def append(self, keys: Tensor, tokens: Tensor) -> None:
        end = self.length + tokens.shape[1]
        if end > self.keys.shape[1]:
            raise CwmError(
                f"KV cache full: {end} tokens do not fit in max_len={self.keys.shape[1]}; "
                "create the cache with a larger max_len"
            )
        self.keys[:, self.length : end] = keys
        self.tokens[:, self.length : end] = tokens
        self.length = end


class CopyHead(nn.Module):
    """Queries and keys of size ``copy_dim`` from the final hidden states, and the gate."""

    def __init__(self, dim: int, copy_dim: int):
        super().__init__()
        self.q = nn.Linear(dim, copy_dim, bias=False)
        self.k = nn.Linear(dim, copy_dim, bias=False)
        self.gate = nn.Linear(dim, 1)

    def keys(self, hidden: Tensor) -> Tensor:
        with _fp32(hidden):
            return F.linear(hidden.float(), self.k.weight.float())

    def log_probs(
        self, logits: Tensor, hidden: Tensor, tokens: Tensor, doc_ids: Tensor | None
    ) -> Tensor:
        """``[B, S, vocab]`` log-probabilities of a whole forward (``tokens [B, S]``)."""
        keys, candidates, allowed = self._candidates(hidden, tokens, doc_ids)
        return self.mix(logits, hidden, keys, candidates, allowed)

    def decode_log_probs(
        self, logits: Tensor, hidden: Tensor, tokens: Tensor, memory: CopyMemory
    ) -> Tensor:
        """The same for new tokens ``[B, n]`` appended to ``memory`` (which this updates)."""
        start = memory.length
        memory.append(self.keys(hidden), tokens)
        end = memory.length
        j = torch.arange(1, end, device=hidden.device)  # candidate positions
        i = torch.arange(start, end, device=hidden.device)  # the new queries' positions
        allowed = (j[None, :] <= i[:, None])[None].expand(tokens.shape[0], -1, -1)
        keys, candidates = memory.keys[:, : end - 1], memory.tokens[:, 1:end]
        return self.mix(logits, hidden, keys, candidates, allowed)

    def target_log_probs(
        self,
        logits: Tensor,
        hidden: Tensor,
        tokens: Tensor,
        labels: Tensor,
        doc_ids: Tensor | None,
        select: Tensor,
    ) -> Tensor:
        """log p(``labels``) at the ``select``ed positions ``[B, S]`` (bool), whose logits
        (``[n, vocab]``) alone were computed: a loss never builds the copy distribution
        over the whole vocabulary."""
        keys, candidates, allowed = self._candidates(hidden, tokens, doc_ids)
        attn, has, gate = self._attend(hidden, keys, allowed)
        y = labels.clamp(min=0)
        copied = (attn * (candidates[:, None, :] == y[..., None])).sum(-1)[select]
        model = -F.cross_entropy(logits.float(), y[select], reduction="none")
        gate = gate[select]
        return _mix(model, copied, gate[:, 0], gate[:, 1], has[select])

    def mix(
        self, logits: Tensor, hidden: Tensor, keys: Tensor, candidates: Tensor, allowed: Tensor
    ) -> Tensor:
        """Log-probabilities ``[B, S, vocab]`` of queries ``hidden [B, S, dim]`` over
        candidates (``keys [B, C, d]``, ``candidates [B, C]`` token ids) they are
        ``allowed [B, S, C]`` to see."""
        attn, has, gate = self._attend(hidden, keys, allowed)
        copied = torch.zeros(logits.shape, device=logits.device, dtype=torch.float32)
        copied.scatter_add_(2, candidates[:, None, :].expand_as(attn), attn)
        model = logits.float().log_softmax(-1)
        return _mix(model, copied, gate[..., :1], gate[..., 1:], has[..., None])

    def _candidates(
        self, hidden: Tensor, tokens: Tensor, doc_ids: Tensor | None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Candidates ``j = 1 .. S-1``: keys from ``h_(j-1)``, tokens ``t_j``, and which
        query ``i`` may see which (``j <= i``, same document, ``j`` not a document start)."""
        s = tokens.shape[1]
        i = torch.arange(s, device=tokens.device)
        allowed = (i[None, 1:] <= i[:, None])[None].expand(tokens.shape[0], -1, -1)
        if doc_ids is not None:
            same = doc_ids[:, :, None] == doc_ids[:, None, 1:]
            continues = doc_ids[:, 1:] == doc_ids[:, :-1]
            allowed = allowed & same & continues[:, None, :]
        return self.keys(hidden)[:, :-1], tokens[:, 1:], allowed

    def _attend(
        self, hidden: Tensor, keys: Tensor, allowed: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Attention ``[B, S, C]`` over the allowed candidates, whether a query has any, and
        the log gates (log g, log (1 - g)) ``[B, S, 2]``."""
        with _fp32(hidden):
            h = hidden.float()
            q = F.linear(h, self.q.weight.float())
            scores = (q @ keys.transpose(1, 2)) / math.sqrt(q.shape[-1])
            has = allowed.any(-1)
            scores = scores.masked_fill(~allowed, float("-inf")).masked_fill(~has[..., None], 0.0)
            attn = torch.softmax(scores, -1) * has[..., None]
            g = F.linear(h, self.gate.weight.float(), self.gate.bias.float())
        return attn, has, torch.cat([F.logsigmoid(g), F.logsigmoid(-g)], -1)


def _mix(
    model_logp: Tensor, copied: Tensor, log_gate: Tensor, log_rest: Tensor, has: Tensor
) -> Tensor:
    """log(g p_model + (1 - g) p_copy); the model alone where nothing can be copied yet."""
    mixed = torch.logaddexp(log_gate + model_logp, log_rest + copied.clamp(min=1e-30).log())
    return torch.where(has, mixed, model_logp)


def _fp32(like: Tensor) -> torch.autocast:
    return torch.autocast(device_type=like.device.type, enabled=False)
