"""Group-relative advantages (GRPO): each sample's reward against its group's.

A group is the samples of one prompt. A group whose rewards are all equal
teaches nothing (every advantage is 0); it is masked and counted, so a run can
see how much of its generation was spent on prompts that were too easy or too hard.
"""

from __future__ import annotations

import torch
from torch import Tensor

EPS = 1e-6


def group_advantages(
    rewards: Tensor, groups: Tensor, *, normalize_std: bool
) -> tuple[Tensor, Tensor]:
    """``rewards [N]`` and ``groups [N]`` (group index of each sample) -> (advantages [N],
    keep [N]: False for the samples of zero-variance groups)."""
    rewards = rewards.double()
    n = int(groups.max()) + 1 if len(groups) else 0
    count = torch.zeros(n, dtype=torch.float64).index_add_(0, groups, torch.ones_like(rewards))
    mean = torch.zeros(n, dtype=torch.float64).index_add_(0, groups, rewards) / count
    centered = rewards - mean[groups]
    var = torch.zeros(n, dtype=torch.float64).index_add_(0, groups, centered**2)
    std = (var / (count - 1).clamp(min=1)).sqrt()  # unbiased, as GRPO's torch.std
    keep = (std > EPS)[groups]
    adv = centered / (std[groups] + EPS) if normalize_std else centered
    return torch.where(keep, adv, torch.zeros_like(adv)).float(), keep
