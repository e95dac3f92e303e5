"""Rewards of environment rollouts (`cwm.core.envs.Rollout`), read from their outcomes.

- `OutcomeReward` (``outcome``, option ``key``): an outcome's value as a float (a bool is
  0 or 1), placed on the last action token; an episode that never set it gets
  ``missing`` (bad output, a limit, an error).
- `FramesExact` (``frames-exact``): dense: ``1/N`` on the ``<|frame_sep|>`` token that
  closes each of the N true frames the policy wrote exactly (outcome
  ``frame_hits``), so the rewards of a rollout add up to its ``frames_exact``.
"""

from __future__ import annotations

from cwm.core.envs import Rollout
from cwm.core.tokenizer import Tokenizer
from cwm.core.tokenizer import specials as sp


class OutcomeReward:
    def __init__(self, key: str = "pass", *, scale: float = 1.0, missing: float = 0.0):
        self.key, self.scale, self.missing = key, scale, missing
        self.range = (min(0.0, scale, missing), max(0.0, scale, missing))

    def __call__(self, rollout: Rollout) -> float:
        value = rollout.outcomes.get(self.key)
        if isinstance(value, bool | int | float):
            return float(value) * self.scale
        return self.missing


class FramesExact:
    range = (0.0, 1.0)

    def __init__(self, tokenizer: Tokenizer | None = None):
        self.frame_sep = (tokenizer or Tokenizer()).token_id(sp.FRAME_SEP)

    def __call__(self, rollout: Rollout) -> list[float]:
        hits = str(rollout.outcomes.get("frame_hits", ""))
        tokens = [t for a in rollout.actions for t in a.tokens]
        out = [0.0] * len(tokens)
        frame = 0
        for i, t in enumerate(tokens):
            if t != self.frame_sep:
                continue
            if frame < len(hits) and hits[frame] == "1":
                out[i] = 1.0 / len(hits)
            frame += 1
        return out
