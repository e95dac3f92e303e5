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
from cwm.core.envs.policy import Action, Policy, Sampling, fit_max_tokens

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
    "fit_max_tokens",
    "token_rewards",
]
