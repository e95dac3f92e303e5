"""Reward functions of SWE episodes: hidden tests, CWM's patch similarity, a format penalty.

Each is a callable ``reward(episode) -> float`` with a ``range``, where the episode
is a recorded `Trajectory` (``cwm forage``) or a `Rollout` of the token-level
``swe`` environment, which reports the same facts as outcomes (``pass``,
``patch_similarity``, ``format_errors``); `Compose` adds weighted terms. CWM's SWE reward is ``patch-similarity``: +1 when the
hidden tests pass (``-1 + scale`` with scale 2); otherwise, when the mean
per-file similarity to the oracle patch reaches ``threshold``, ``-1 + threshold
* scale`` (the threshold, not the similarity, so the shaping cannot be farmed
by inching closer); else -1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from cwm.core.envs import Rollout
from cwm.core.schemas import Trajectory
from cwm.rl.rewards.episodes import OutcomeReward
from cwm.rl.rewards.similarity import mean_similarity

Episode = Trajectory | Rollout


class Reward(Protocol):
    range: tuple[float, float]

    def __call__(self, trajectory: Episode) -> float: ...


def resolved(trajectory: Episode) -> bool:
    if isinstance(trajectory, Rollout):
        return bool(trajectory.outcomes.get("pass"))
    return bool(trajectory.tests is not None and trajectory.tests.resolved)


class HiddenTests(OutcomeReward):
    """Pass or fail: ``-1 + scale`` when the hidden tests pass, else -1 (a rollout's
    ``pass`` outcome, or a trajectory's test results)."""

    def __init__(self, scale: float = 2.0):
        super().__init__("pass", lo=-1.0, hi=-1.0 + scale)
        self.scale = scale

    def __call__(self, trajectory: Episode) -> float:  # type: ignore[override]
        if isinstance(trajectory, Rollout):
            return super().__call__(trajectory)
        return self.hi if resolved(trajectory) else self.lo


class PatchSimilarity:
    """CWM's thresholded similarity reward (see the module docstring)."""

    def __init__(self, threshold: float = 0.5, scale: float = 2.0):
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold}")
        self.threshold, self.scale = threshold, scale
        self.range = (-1.0, -1.0 + scale)

    def similarity(self, trajectory: Episode) -> float | None:
        if isinstance(trajectory, Rollout):
            value = trajectory.outcomes.get("patch_similarity")
            return float(value) if isinstance(value, int | float) else None
        return mean_similarity(trajectory.patch or "", trajectory.task.oracle_patch)

    def __call__(self, trajectory: Episode) -> float:
        if resolved(trajectory):
            return -1.0 + self.scale
        sim = self.similarity(trajectory)
        if sim is not None and sim >= self.threshold:
            return -1.0 + self.threshold * self.scale
        return -1.0


class FormatPenalty:
    """``-penalty`` per turn whose reply held no valid tool call, down to ``-max_penalty``."""

    def __init__(self, penalty: float = 0.1, max_penalty: float = 0.5):
        self.penalty, self.max_penalty = penalty, max_penalty
        self.range = (-max_penalty, 0.0)

    def __call__(self, trajectory: Episode) -> float:
        if isinstance(trajectory, Rollout):
            errors = int(trajectory.outcomes.get("format_errors", 0))
        else:
            errors = sum(1 for turn in trajectory.turns if turn.error is not None)
        return -min(self.max_penalty, self.penalty * errors)


class Compose:
    """A weighted sum of reward terms, optionally clipped."""

    def __init__(
        self, terms: Sequence[tuple[float, Reward]], clip: tuple[float, float] | None = None
    ):
        if not terms:
            raise ValueError("compose needs at least one term")
        self.terms, self.clip = list(terms), clip
        lo = sum(w * (r.range[0] if w >= 0 else r.range[1]) for w, r in self.terms)
        hi = sum(w * (r.range[1] if w >= 0 else r.range[0]) for w, r in self.terms)
        self.range = (max(lo, clip[0]), min(hi, clip[1])) if clip else (lo, hi)

    def components(self, trajectory: Episode) -> list[float]:
        return [w * r(trajectory) for w, r in self.terms]

    def __call__(self, trajectory: Episode) -> float:
        total = sum(self.components(trajectory))
        return min(max(total, self.clip[0]), self.clip[1]) if self.clip else total


def compose(terms: Sequence[dict[str, Any]], clip: Sequence[float] | None = None) -> Compose:
    """Build from config: ``terms = [{name = "patch-similarity", weight = 1.0, options = {...}}]``."""
    from cwm.core.plugins import registry

    built = []
    for term in terms:
        unknown = set(term) - {"name", "weight", "options"}
        if unknown or "name" not in term:
            raise ValueError(f"a reward term has keys name, weight, options; got {sorted(term)}")
        built.append(
            (
                float(term.get("weight", 1.0)),
                registry("reward").create(term["name"], **term.get("options", {})),
            )
        )
    return Compose(built, clip=(float(clip[0]), float(clip[1])) if clip else None)


def swe(threshold: float = 0.5, scale: float = 2.0, format_penalty: float = 0.0) -> Reward:
    """The default for SWE trajectories: patch-similarity, plus a format penalty when asked."""
    shaped = PatchSimilarity(threshold=threshold, scale=scale)
    if not format_penalty:
        return shaped
    return Compose([(1.0, shaped), (1.0, FormatPenalty(penalty=format_penalty))])
