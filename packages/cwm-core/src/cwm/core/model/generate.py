"""Reference greedy decoding with a `DenseKVCache`: the behaviour a serving engine must match."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor

from cwm.core.model.cache import DenseKVCache
from cwm.core.model.smear import previous_tokens
from cwm.core.model.transformer import Transformer


@torch.inference_mode()
def greedy(
    model: Transformer,
    prompt: Tensor,
    max_new_tokens: int,
    *,
    stop_ids: Iterable[int] = (),
) -> list[list[int]]:
    """Greedy continuation of each row of ``prompt [B, S]`` (rows of equal length).

    Prefills the prompt in one forward, then decodes one token per step. A row
    stops after its first token in ``stop_ids`` (which is kept); returns the new
    tokens of each row.
    """
    b, s = prompt.shape
    stops = set(stop_ids)
    cache = DenseKVCache.for_model(model, b, s + max_new_tokens)
    out: list[list[int]] = [[] for _ in range(b)]
    done = [False] * b
    logits = model(prompt, cache=cache, previous=previous_tokens(prompt))
    last = prompt[:, -1]
    for _ in range(max_new_tokens):
        nxt = logits[:, -1].argmax(dim=-1)
        for row, tok in enumerate(nxt.tolist()):
            if not done[row]:
                out[row].append(tok)
                done[row] = tok in stops
        if all(done):
            break
        logits = model(nxt[:, None], cache=cache, previous=last[:, None])
        last = nxt
    return out
