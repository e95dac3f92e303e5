"""The policy's logprob of each target token and its entropy there, from the hidden
states, in one pass over the vocabulary.

The plain way (``head(hidden).float().log_softmax(-1)``, a gather, the entropy from the
``[tokens, vocab]`` logprobs) makes half a dozen passes over that tensor in each
direction: the largest in a small model's step (on the `tiny` flavor, 16,640 entries a
token, most of the head's time on CPU). `target_logprobs` runs the head on a chunk of
rows at a time (`chunk_rows`) and from each chunk's logits takes the log-normalizer, the
target's logprob and the entropy at once, keeping the softmax; the backward turns each
chunk's softmax into its logits' gradient in place (``onehot - softmax``, scaled), so a
graph through it runs backward once. The entropy is for the record: no gradient flows
through it. Under autocast the matmuls run in its dtype, as ``nn.Linear`` would; the
logits and the softmax are fp32.

For a plain ``nn.Linear`` head on one rank; `Learner` takes the module's own forward
for a sharded (FSDP, tensor-parallel) or swapped (fp8) head, whose hooks need it.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.distributed.tensor import DTensor

#: logits formed at a time (their softmax, fp32, kept for the backward as the plain way
#: keeps its logprobs): on CPU a chunk that stays in the cache (the `tiny` head on 1,536
#: tokens, one AMD EPYC core: 1.2-1.4x the plain way's pace, about 1.0x with 32 MB
#: chunks); on an accelerator fewer, larger passes
CHUNK_ELEMENTS = {"cpu": 1 << 22}
DEVICE_CHUNK_ELEMENTS = 1 << 26


def chunk_rows(vocab: int, device: torch.device) -> int:
    return max(1, CHUNK_ELEMENTS.get(device.type, DEVICE_CHUNK_ELEMENTS) // vocab)


def fusable(head: nn.Module) -> bool:
    """A plain linear head without bias whose weight is whole (FSDP2 and fp8 change the
    module's class, tensor parallelism makes the weight a DTensor)."""
    return type(head) is nn.Linear and head.bias is None and not isinstance(head.weight, DTensor)


def target_logprobs(head: nn.Linear, hidden: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
    """(log p(target), entropy) of each row of ``hidden [n, dim]`` under ``head``: fp32
    ``[n]`` each, the entropy detached."""
    return _TargetLogprobs.apply(hidden, head.weight, targets)


class _TargetLogprobs(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden: Tensor, weight: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
        device = hidden.device.type
        dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else None
        h = hidden.to(dtype) if dtype else hidden
        w = weight.to(dtype) if dtype else weight
        n, rows = len(h), chunk_rows(len(weight), hidden.device)
        chosen = torch.empty(n, device=hidden.device, dtype=torch.float32)
        entropy = torch.empty_like(chosen)
        probs = []
        for s in range(0, n, rows):
            z = (h[s : s + rows] @ w.t()).float()
            norm = z.logsumexp(-1)
            chosen[s : s + rows] = z.gather(1, targets[s : s + rows, None])[:, 0] - norm
            p = (z - norm[:, None]).exp_()
            entropy[s : s + rows] = norm - (p * z).sum(-1)
            probs.append(p)
        ctx.save_for_backward(h, w, targets)
        ctx.probs, ctx.rows, ctx.dtypes = probs, rows, (hidden.dtype, weight.dtype)
        ctx.mark_non_differentiable(entropy)
        return chosen, entropy

    @staticmethod
    def backward(ctx, grad: Tensor, _: Tensor) -> tuple[Tensor, Tensor, None]:
        if ctx.probs is None:
            raise RuntimeError("target_logprobs: its graph runs backward once")
        h, w, targets = ctx.saved_tensors
        grad_h = torch.empty(h.shape, device=h.device, dtype=ctx.dtypes[0])
        grad_w = torch.zeros(w.shape, device=w.device, dtype=torch.float32)
        rows = ctx.rows
        for i, s in enumerate(range(0, len(h), rows)):
            g = grad[s : s + rows, None].float()
            # d log p(t) / d z = onehot(t) - softmax(z), times the incoming gradient
            gz = ctx.probs[i].mul_(-g)
            gz.scatter_add_(1, targets[s : s + rows, None], g)
            gz = gz.to(w.dtype)
            grad_h[s : s + rows] = gz @ w
            if not ctx.needs_input_grad[1]:  # a frozen head
                continue
            if gz.dtype == torch.float32:
                grad_w.addmm_(gz.t(), h[s : s + rows])
            else:  # autocast's dtype: its product, summed in fp32
                grad_w.add_(gz.t() @ h[s : s + rows])
        ctx.probs = None
        return grad_h, grad_w.to(ctx.dtypes[1]) if ctx.needs_input_grad[1] else None, None
