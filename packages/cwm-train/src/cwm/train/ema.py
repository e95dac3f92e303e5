"""An exponential moving average of the weights (``TrainConfig.ema_decay``).

After optimizer step ``t`` (from 0), ``average += (1 - d_t) * (weights - average)``
with ``d_t = min(decay, (1 + t) / (10 + t))``: the ramp keeps a short run's average
from holding on to the random initial weights. It is kept in the weights' own dtype
and sharding (a DTensor's average is a DTensor on the same mesh). The run's
checkpoints carry it, so a resumed run continues the same average, and at the end the
model takes it (the final checkpoint also keeps the last weights, which a run extended
from it resumes from).
"""

from __future__ import annotations

import torch
from torch import nn

from cwm.core.errors import CwmError
from cwm.train.optim import is_plain


class WeightAverage:
    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.names = [n for n, p in model.named_parameters() if p.requires_grad]
        params = dict(model.named_parameters())
        for name in self.names:
            p = params[name]
            if not is_plain(p) or not p.is_floating_point():
                raise CwmError(
                    f"ema_decay: parameter {name} is a {type(p).__name__} of {p.dtype}; "
                    "the average needs plain floating weights (float8 all-gather keeps "
                    "them in a tensor subclass: turn it off or set ema_decay = 0)"
                )
        self.average = self.copy_of(model)

    def copy_of(self, model: nn.Module) -> dict[str, torch.Tensor]:
        """The model's current weights, detached copies by name."""
        params = dict(model.named_parameters())
        with torch.no_grad():
            return {n: params[n].detach().clone() for n in self.names}

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        """Fold in the weights that optimizer step ``step`` (from 0) left."""
        weight = 1.0 - min(self.decay, (1 + step) / (10 + step))
        params = dict(model.named_parameters())
        for name in self.names:
            self.average[name].lerp_(params[name].detach(), weight)

    @torch.no_grad()
    def load_into(self, model: nn.Module, weights: dict[str, torch.Tensor]) -> None:
        params = dict(model.named_parameters())
        for name in self.names:
            params[name].copy_(weights[name])
