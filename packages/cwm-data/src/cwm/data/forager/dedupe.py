"""Near-duplicate trajectories: same task, (almost) the same actions.

Two trajectories of one task are near-duplicates when the Jaccard similarity of
the word 5-gram sets of their actions reaches ``threshold`` (1.0: identical up
to whitespace). Sampling a policy many times on one task yields many such
copies; they add nothing to a training set.
"""

from __future__ import annotations

import re

from cwm.core.schemas import Trajectory

_WORD = re.compile(r"\S+")


def shingles(trajectory: Trajectory, n: int = 5) -> frozenset[str]:
    words = _WORD.findall("\n".join(t.action for t in trajectory.turns))
    if len(words) < n:
        return frozenset([" ".join(words)])
    return frozenset(" ".join(words[i : i + n]) for i in range(len(words) - n + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


class Deduper:
    """Keeps the first of every group of near-duplicate trajectories, per task."""

    def __init__(self, threshold: float = 0.9):
        self.threshold = threshold
        self._seen: dict[str, list[frozenset[str]]] = {}

    def add(self, trajectory: Trajectory) -> bool:
        """True (and remembered) when ``trajectory`` is new; False for a near-duplicate."""
        mine = shingles(trajectory)
        kept = self._seen.setdefault(trajectory.task.id, [])
        if any(jaccard(mine, other) >= self.threshold for other in kept):
            return False
        kept.append(mine)
        return True
