"""Rewards for SWE trajectories and for environment rollouts, registered as ``reward`` plugins.

from cwm.core.plugins import registry
reward = registry("reward").create("patch-similarity", threshold=0.5)
reward(trajectory)   # -> float in reward.range
"""

from cwm.rl.rewards.episodes import FramesExact, OutcomeReward, pass_reward
from cwm.rl.rewards.functions import (
    Compose,
    FormatPenalty,
    HiddenTests,
    PatchSimilarity,
    Reward,
    compose,
    swe,
)
from cwm.rl.rewards.similarity import file_similarities, mean_similarity, normalized_files

__all__ = [
    "Compose",
    "FormatPenalty",
    "FramesExact",
    "HiddenTests",
    "OutcomeReward",
    "PatchSimilarity",
    "Reward",
    "compose",
    "file_similarities",
    "mean_similarity",
    "normalized_files",
    "pass_reward",
    "swe",
]
