"""The training objective as a module: next-token cross-entropy, summed over targets.

`CausalLMLoss` wraps the `Transformer` so that one ``forward`` runs the whole
step (what FSDP2's root hooks expect). With ``chunk`` set, the output head and
the loss run on ``chunk`` positions at a time under activation checkpointing,
so the ``[B, S, vocab]`` logits never exist at once (they are recomputed per
chunk in the backward: long rows fit, at the price of a second head matmul). A model
with a copy head (``model.copy_dim``) mixes the head's pointer over the row into each
target's probability (`Transformer.target_log_probs`), over whole rows.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from cwm.train.data.loader import IGNORE


class CausalLMLoss(nn.Module):
    def __init__(self, model: nn.Module, chunk: int = 0):
        super().__init__()
        self.model, self.chunk = model, chunk

    def forward(self, inputs: Tensor, labels: Tensor, doc_ids: Tensor | None = None) -> Tensor:
        """The sum of the token losses over every labelled position (fp32)."""
        hidden = self.model.hidden_states(inputs, doc_ids=doc_ids)
        if getattr(self.model, "copy_head", None) is not None:
            targets = labels != IGNORE
            return -self.model.target_log_probs(hidden, inputs, labels, targets, doc_ids).sum()
        seq = hidden.shape[1]
        if not self.chunk or self.chunk >= seq:
            return self._loss(hidden, labels)
        total = torch.zeros((), device=hidden.device, dtype=torch.float32)
        for s in range(0, seq, self.chunk):
            part = (hidden[:, s : s + self.chunk], labels[:, s : s + self.chunk])
            total = total + checkpoint(self._loss, *part, use_reentrant=False)
        return total

    def _loss(self, hidden: Tensor, labels: Tensor) -> Tensor:
        hidden, labels = hidden.flatten(0, 1), labels.flatten()
        if type(hidden) is Tensor:  # not a DTensor (tensor parallel): the targets alone
            # the output head and the softmax skip what is not trained (a prompt's tokens)
            targets = labels != IGNORE
            hidden, labels = hidden[targets], labels[targets]
        logits = self.model.output(hidden)
        return F.cross_entropy(logits.float(), labels, ignore_index=IGNORE, reduction="sum")
