"""What a ``policy_loss`` plugin's factory returns: one RL policy loss."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:  # torch is an extra of cwm-core
    from torch import Tensor


@runtime_checkable
class PolicyLoss(Protocol):
    """``loss(logprobs=, old_logprobs=, advantages=, mask=) -> (loss, metrics)``.

    ``logprobs`` [B, T] are the sampled tokens' log-probabilities under the weights
    being trained, ``old_logprobs`` [B, T] those the sampler reported, ``advantages``
    [B, T] (a sequence's advantage repeated over its tokens), ``mask`` [B, T] 1 on
    the tokens the policy wrote. The loss is a scalar to minimize; ``metrics`` are
    floats worth logging (clip fraction, ratio statistics).
    """

    name: str

    def __call__(
        self, *, logprobs: Tensor, old_logprobs: Tensor, advantages: Tensor, mask: Tensor
    ) -> tuple[Tensor, dict[str, float]]: ...
