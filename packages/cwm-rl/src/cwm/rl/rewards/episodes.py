"""Rewards of environment rollouts (`cwm.core.envs.Rollout`), read from their outcomes.

- `OutcomeReward` (``outcome``, option ``key``): an outcome's value (a bool is 0 or 1)
  mapped onto ``[lo, hi]`` and placed on the last action token; an episode that never set
  it gets ``missing`` (bad output, a limit, an error). ``pass`` is its preset for the
  outcome every grading environment of cwm-rl sets (code-tests: every test passed; math:
  the answer is right; swe: the hidden tests resolved the task; swe-testgen: the test
  fails before the fix and passes after it), with ``partial`` credit from
  ``passed_fraction``. The SWE reward ``hidden-tests`` reads it through this class too.
- `FramesExact` (``frames-exact``): dense: ``1/N`` on the ``<|frame_sep|>`` token that
  closes each of the N true frames the policy wrote exactly (outcome
  ``frame_hits``), so the rewards of a rollout add up to its ``frames_exact``.
"""

from __future__ import annotations

from cwm.core.envs import Rollout
from cwm.core.errors import CwmError
from cwm.core.tokenizer import Tokenizer
from cwm.core.tokenizer import specials as sp


class OutcomeReward:
    """``lo + (hi - lo) * value`` of the outcome ``key``; with ``partial``, a false value
    reads ``passed_fraction`` instead (credit for each hidden test passed). ``scale`` is
    the older spelling of ``hi`` with ``lo=0``; ``missing`` defaults to ``lo``."""

    def __init__(
        self,
        key: str = "pass",
        *,
        lo: float = 0.0,
        hi: float = 1.0,
        partial: bool = False,
        scale: float | None = None,
        missing: float | None = None,
    ):
        if scale is not None:
            lo, hi = 0.0, scale
        elif hi <= lo:
            raise CwmError(f"reward {key!r}: needs lo < hi, got lo={lo}, hi={hi}")
        self.key, self.lo, self.hi, self.partial = key, lo, hi, partial
        self.missing = lo if missing is None else missing
        self.range = (min(lo, hi, self.missing), max(lo, hi, self.missing))

    def __call__(self, rollout: Rollout) -> float:
        outcomes = rollout.outcomes
        value = outcomes.get(self.key)
        if self.partial and not value:
            value = outcomes.get("passed_fraction", value)
        if isinstance(value, bool | int | float):
            return self.lo + (self.hi - self.lo) * float(value)
        return self.missing


def pass_reward(lo: float = 0.0, hi: float = 1.0, partial: bool = False) -> OutcomeReward:
    """The ``pass`` plugin: ``hi`` when the ``pass`` outcome is true, else ``lo``."""
    return OutcomeReward("pass", lo=lo, hi=hi, partial=partial)


class FramesExact:
    range = (0.0, 1.0)

    def __init__(self, tokenizer: Tokenizer | str | None = None):
        """``tokenizer``: the environment's (a `Tokenizer` or a vocabulary's name or file)."""
        tok = tokenizer if isinstance(tokenizer, Tokenizer) else Tokenizer(tokenizer)
        self.frame_sep = tok.token_id(sp.FRAME_SEP)

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
