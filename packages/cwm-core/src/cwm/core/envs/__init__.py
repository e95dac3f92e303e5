"""Environments: the token-level episode API every environment plugin implements."""

from cwm.core.envs.api import (
    FINISH_CONTEXT,
    FINISH_DEADLINE,
    FINISH_TURNS,
    Env,
    Environment,
    NoState,
    OutcomeValue,
    Reward,
    Rollout,
    State,
    Transition,
    token_rewards,
)
from cwm.core.envs.policy import Action, Policy, Sampling

__all__ = [
    "FINISH_CONTEXT",
    "FINISH_DEADLINE",
    "FINISH_TURNS",
    "Action",
    "Env",
    "Environment",
    "NoState",
    "OutcomeValue",
    "Policy",
    "Reward",
    "Rollout",
    "Sampling",
    "State",
    "Transition",
    "token_rewards",
]
