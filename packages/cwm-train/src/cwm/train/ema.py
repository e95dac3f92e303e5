"""An exponential moving average of the weights (``TrainConfig.ema_decay``).

After each optimizer step ``average += (1 - decay) * (weights - average)``, in the
weights' own dtype and sharding (a DTensor's average is a DTensor on the same mesh).
The run's checkpoints carry it, so a resumed run continues the same average, and at the
end the model takes it. With decay 0.99 it averages about the last hundred steps: on
`cwm demo` the averaged weights write more next frames right than the last ones.
"""

from __future__ import annotations

import torch
from torch import nn

from cwm.core.errors import CwmError


class WeightAverage:
    def __init__(self, model: nn.Module, decay: float):
        from torch.distributed.tensor import DTensor

        if not 0.0 < decay < 1.0:
            raise CwmError(f"ema_decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.names = [n for n, p in model.named_parameters() if p.requires_grad]
        params = dict(model.named_parameters())
        for name in self.names:
            p = params[name]
            local = p.to_local() if isinstance(p, DTensor) else p
            if type(local) not in (torch.Tensor, nn.Parameter) or not p.is_floating_point():
                raise CwmError(
                    f"ema_decay: parameter {name} is a {type(local).__name__} of "
                    f"{p.dtype}; an average needs plain floating weights (not float8 training)"
                )
        with torch.no_grad():
            self.average = {n: params[n].detach().clone() for n in self.names}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        params = dict(model.named_parameters())
        for name in self.names:
            self.average[name].lerp_(params[name].detach(), 1.0 - self.decay)

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        params = dict(model.named_parameters())
        for name in self.names:
            params[name].copy_(self.average[name])
