"""Rewards of rollouts read from the environment's outcomes (see `cwm.core.envs`).

``pass`` is the outcome every grading environment of cwm-rl sets (code-tests: every
test passed; math: the answer is right; swe: the hidden tests resolved the task;
swe-testgen: the test fails before the fix and passes after it).
"""

from __future__ import annotations

from cwm.core.envs import Rollout


class PassReward:
    """``hi`` when the rollout's ``pass`` outcome is true, else ``lo``; with ``partial``,
    ``lo + (hi - lo) * passed_fraction`` (credit for each hidden test passed)."""

    def __init__(self, lo: float = 0.0, hi: float = 1.0, partial: bool = False):
        if hi <= lo:
            raise ValueError(f"a reward needs lo < hi, got lo={lo}, hi={hi}")
        self.lo, self.hi, self.partial = lo, hi, partial
        self.range = (lo, hi)

    def __call__(self, rollout: Rollout) -> float:
        outcomes = rollout.outcomes
        if outcomes.get("pass"):
            return self.hi
        if self.partial:
            fraction = float(outcomes.get("passed_fraction", 0.0))
            return self.lo + (self.hi - self.lo) * fraction
        return self.lo
