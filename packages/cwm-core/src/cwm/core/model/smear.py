"""The smear: ``x_t + sigmoid(w . x_t + b) * x_(t-1)`` on the token embeddings.

Each token's embedding takes a gated share of the previous token's, inside its
document. A single attention layer can then match a token by the one before it
(copying a name from the source into a trace frame needs that), which otherwise
takes two layers: an induction head.

Decoding needs each new token's predecessor, which a KV cache does not hold: callers
that decode pass ``previous`` (the id of the token before each one, -1 at a start).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cwm.core.attention.masks import document_starts


def previous_tokens(tokens: Tensor, doc_ids: Tensor | None = None) -> Tensor:
    """``[B, S]``: the id of the token before each one in its row and document, -1 at
    the first token of a row or a document."""
    previous = F.pad(tokens[:, :-1], (1, 0), value=-1)
    if doc_ids is not None:
        previous = previous.masked_fill(document_starts(doc_ids), -1)
    return previous


class Smear(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.gate = nn.Linear(dim, 1)

    def forward(self, x: Tensor, previous: Tensor) -> Tensor:
        """``x [B, S, dim]`` plus the gated ``previous [B, S, dim]`` (zeros at starts)."""
        return x + torch.sigmoid(self.gate(x)) * previous


def previous_embeddings(
    x: Tensor, embedding: nn.Embedding, doc_ids: Tensor | None, previous: Tensor | None
) -> Tensor:
    """The embedding of each token's predecessor (zeros where it has none). Without
    ``previous``, ``x`` is a whole row or packed documents: shifting it is the lookup."""
    if previous is None:
        shifted = F.pad(x[:, :-1], (0, 0, 1, 0))
        if doc_ids is None:
            return shifted
        return shifted.masked_fill(document_starts(doc_ids)[..., None], 0.0)
    real = (previous >= 0).unsqueeze(-1).to(x.dtype)
    return embedding(previous.clamp(min=0)) * real
