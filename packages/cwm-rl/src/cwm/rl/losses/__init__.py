"""Policy losses: the token-level RL objective and its named options (``policy_loss`` plugins)."""

from cwm.rl.losses.advantages import group_advantages
from cwm.rl.losses.aggregate import token_weights
from cwm.rl.losses.config import LossConfig
from cwm.rl.losses.objective import LossOutput, merge_stats, policy_loss, summarize

__all__ = [
    "LossConfig",
    "LossOutput",
    "PolicyLoss",
    "group_advantages",
    "merge_stats",
    "policy_loss",
    "summarize",
    "token_weights",
]


class PolicyLoss:
    """What a ``policy_loss`` plugin's factory returns: a config and the objective."""

    def __init__(self, config: LossConfig):
        self.config = config

    def __call__(self, logp, old, advantages, weights, ref=None) -> LossOutput:
        return policy_loss(self.config, logp, old, advantages, weights, ref)
