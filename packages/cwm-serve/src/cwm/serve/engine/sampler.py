"""Next tokens from logits, each row with its own sampling parameters.

Greedy rows take the argmax of the raw logits (exactly what cwm-core's
``greedy`` does). Other rows divide by their temperature, keep their top-k and
top-p tokens and draw by inverting their cumulative distribution at one uniform
number a row. The number comes from the sequence's own generator when it has a
seed, so a seeded request samples the same tokens whatever else is in the batch;
one number a row (not one a vocabulary entry, as an exponential race needs) is
cheap to draw on the CPU, where the generators live, and to move to the device.
Logprobs are those of the model's distribution (raw logits, before temperature).
"""

from __future__ import annotations

import torch
from torch import Tensor

from cwm.serve.engine.sequence import Sequence, TokenLogprob


def _filter(logits: Tensor, top_k: Tensor, top_p: Tensor) -> Tensor:
    """Mask, per row, tokens outside the top k (0: all) and outside the top-p nucleus."""
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    rank = torch.arange(logits.shape[-1], device=logits.device)[None]
    drop = (top_k[:, None] > 0) & (rank >= top_k[:, None])
    probs = sorted_logits.masked_fill(drop, float("-inf")).softmax(dim=-1)
    before = probs.cumsum(dim=-1) - probs  # mass of the better tokens
    drop |= before >= top_p[:, None]  # the best token always stays
    return logits.scatter(-1, order, sorted_logits.masked_fill(drop, float("-inf")))


def _draw(probs: Tensor, generators: list[torch.Generator | None]) -> Tensor:
    """One token a row of ``probs [N, vocab]``: the first whose cumulative probability
    exceeds a uniform share of the row's total. A token of probability 0 is never the
    first to exceed it, so masked tokens are never drawn."""
    u = torch.cat([torch.rand(1, generator=g, dtype=torch.float64) for g in generators])
    cdf = probs.double().cumsum(dim=-1)  # float64: no drift over a 128k vocabulary
    target = u.to(cdf.device)[:, None] * cdf[:, -1:]
    picked = torch.searchsorted(cdf, target, right=True)[:, 0]
    return picked.clamp_max(probs.shape[-1] - 1)  # u * total rounding up to the total


def sample(logits: Tensor, seqs: list[Sequence]) -> tuple[list[int], list[TokenLogprob | None]]:
    """``logits [N, vocab]`` (float32), one row per sequence -> tokens and logprobs."""
    tokens = logits.argmax(dim=-1)
    random = [i for i, s in enumerate(seqs) if not s.params.greedy]
    if random:
        rows = logits[random]
        params = [seqs[i].params for i in random]
        temps = torch.tensor([p.temperature for p in params], device=rows.device)
        rows = rows / temps[:, None]
        if any(p.top_k or p.top_p < 1 for p in params):
            top_k = torch.tensor([p.top_k for p in params], device=rows.device)
            top_p = torch.tensor([p.top_p for p in params], device=rows.device)
            rows = _filter(rows, top_k, top_p)
        tokens[random] = _draw(rows.softmax(dim=-1), [seqs[i].generator for i in random])
    chosen = tokens.tolist()
    wanted = [i for i, s in enumerate(seqs) if s.params.logprobs is not None]
    logprobs: list[TokenLogprob | None] = [None] * len(seqs)
    if wanted:
        lp = logits[wanted].log_softmax(dim=-1)
        k = max(seqs[i].params.logprobs or 0 for i in wanted)
        top_v, top_i = lp.topk(k, dim=-1) if k else (lp[:, :0], lp[:, :0].long())
        own = lp.gather(1, tokens[wanted][:, None])[:, 0].tolist()
        for j, i in enumerate(wanted):
            n = seqs[i].params.logprobs or 0
            top = list(zip(top_i[j, :n].tolist(), top_v[j, :n].tolist()))
            logprobs[i] = TokenLogprob(chosen[i], own[j], top)
    return chosen, logprobs
