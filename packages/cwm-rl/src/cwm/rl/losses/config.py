"""The policy loss's named options: one token-level objective, many published variants.

    loss = registry("policy_loss").create("ppo", eps_high=0.28, aggregation="dr-grpo")

Every option has a default that reproduces a published recipe (DAPO's clip-higher PPO).
"""

from __future__ import annotations

import math
from typing import Literal

from cwm.core.config import Config, ConfigError

#: how the per-sample ratio enters the loss
ClipMode = Literal["ppo", "cispo", "gspo", "reinforce"]
#: how token losses become one number (see `cwm.rl.losses.aggregate`)
Aggregation = Literal["token-mean", "seq-mean-token-mean", "dr-grpo", "prompt-mean"]
#: estimators of KL(policy || reference) per token (Schulman's k1, k2, k3)
KlEstimator = Literal["", "k1", "k2", "k3"]

#: (eps_low, eps_high) when not set: DAPO's clip-higher for ppo and cispo's upper cap,
#: GSPO's much narrower sequence-ratio band
DEFAULT_EPS = {"ppo": (0.2, 0.28), "cispo": (math.inf, 0.28), "gspo": (3e-4, 4e-4)}


class LossConfig(Config, frozen=True, kw_only=True):
    clip: ClipMode = "ppo"
    #: ratio band [1 - eps_low, 1 + eps_high]; None: the mode's default (DEFAULT_EPS)
    eps_low: float | None = None
    eps_high: float | None = None
    #: reinforce: truncated importance sampling, the weight min(ratio, tis_cap); 0: no IS
    tis_cap: float = 2.0
    #: mask a whole sample whose geometric-mean ratio leaves [1/seq_mask, seq_mask] (0: off)
    seq_mask: float = 0.0
    aggregation: Aggregation = "token-mean"
    #: dr-grpo's constant divisor per sample (tokens); 0: the longest sample of the batch
    divisor: int = 0
    #: group-relative advantages: (r - mean) / std when true, r - mean when false
    normalize_std: bool = True
    kl: KlEstimator = ""
    kl_coef: float = 0.0
    #: recompute the old policy's logprobs with a forward before the update instead of
    #: trusting the behaviour logprobs the engine returned with each token
    recompute_old: bool = False

    def __post_init__(self) -> None:
        if self.kl and self.kl_coef <= 0:
            raise ConfigError(f"loss.kl={self.kl!r} needs loss.kl_coef > 0")
        if self.seq_mask and self.seq_mask <= 1:
            raise ConfigError(f"loss.seq_mask must be > 1 (or 0: off), got {self.seq_mask}")
        if self.tis_cap < 0 or self.divisor < 0:
            raise ConfigError("loss.tis_cap and loss.divisor must be >= 0")

    @property
    def band(self) -> tuple[float, float]:
        """(lowest, highest) ratio before clipping."""
        low, high = DEFAULT_EPS.get(self.clip, (0.2, 0.28))
        low = low if self.eps_low is None else self.eps_low
        high = high if self.eps_high is None else self.eps_high
        return 1.0 - low, 1.0 + high
