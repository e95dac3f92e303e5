"""The task mixture: which task and which row each new group gets, reproducibly.

Tasks are drawn by weight from one seeded generator; each task walks its rows in a
seeded shuffled order, epoch after epoch. The generator's state and every task's
cursor are the mixture's state, saved with each checkpoint, so a resumed run draws
the same prompts in the same order: none lost, none repeated.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from cwm.core.errors import CwmError


class Mixture:
    def __init__(
        self,
        rows: Mapping[str, Sequence[Mapping[str, Any]]],
        weights: Mapping[str, float],
        seed: int,
    ):
        for name, task_rows in rows.items():
            if not task_rows:
                raise CwmError(f"task {name!r} has no data rows; check its data file")
        self.rows, self.names = rows, list(rows)
        self.weights = [weights[n] for n in self.names]
        self.seed = seed
        self.rng = random.Random(seed)
        self.cursors = dict.fromkeys(self.names, 0)

    def _order(self, name: str, epoch: int) -> list[int]:
        order = list(range(len(self.rows[name])))
        random.Random(f"{self.seed}:{name}:{epoch}").shuffle(order)
        return order

    def draw(self) -> tuple[str, int]:
        """The next (task, row index)."""
        name = self.rng.choices(self.names, self.weights)[0]
        n = len(self.rows[name])
        cursor = self.cursors[name]
        self.cursors[name] = cursor + 1
        return name, self._order(name, cursor // n)[cursor % n]

    def state_dict(self) -> dict[str, Any]:
        version, internal, gauss = self.rng.getstate()
        return {"rng": [version, list(internal), gauss], "cursors": dict(self.cursors)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        version, internal, gauss = state["rng"]
        self.rng.setstate((version, tuple(internal), gauss))
        self.cursors = dict(state["cursors"])
