"""RL episodes: the tokens of one rollout, who produced each, and its reward."""

from __future__ import annotations

from typing import Any

from cwm.core.schemas.base import Record


class Episode(Record, tag="episode", kw_only=True):
    task_id: str
    group: str = ""  # rollouts of the same prompt share a group (GRPO baselines)
    token_ids: list[int]  # the prompt, then every completion and observation token
    loss_mask: list[bool]  # True where the policy sampled the token
    logprobs: list[float]  # the sampler's logprob where loss_mask, else 0.0
    policy_version: int  # the weights version the episode started with
    reward: float
    rewards: dict[str, float] = {}  # the reward's components, by name
    finish_reason: str = ""
    meta: dict[str, Any] = {}

    def __post_init__(self) -> None:
        n = len(self.token_ids)
        if len(self.loss_mask) != n or len(self.logprobs) != n:
            raise ValueError(
                f"token_ids, loss_mask and logprobs must have the same length "
                f"({n}, {len(self.loss_mask)}, {len(self.logprobs)})"
            )
