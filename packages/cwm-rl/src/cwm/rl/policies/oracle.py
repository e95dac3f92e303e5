"""The oracle: the environment's own reference answer, replayed turn by turn.

It checks the harness itself: on any dataset, an environment and its reward must
give the oracle full marks. The runner asks it for a per-episode policy
(`for_episode`), since only the episode's state knows the answer.
"""

from __future__ import annotations

from typing import Any

from cwm.core.envs import Action, Sampling

#: the oracle reads no model, so no context limit applies to it
UNLIMITED = 2**31 - 1


class OraclePolicy:
    name = "oracle"
    context_len = UNLIMITED
    version = 0

    def for_episode(self, env: Any, state: Any) -> _Replay:
        return _Replay(env.reference(state))

    async def act(self, context: list[int], sampling: Sampling) -> Action:
        raise TypeError("the oracle acts per episode: call for_episode(env, state) first")

    def close(self) -> None:
        pass


class _Replay:
    name = "oracle"
    context_len = UNLIMITED

    def __init__(self, turns: list[list[int]]):
        self.turns = iter(turns)

    async def act(self, context: list[int], sampling: Sampling) -> Action:
        # past the reference's last turn the oracle has nothing to add: an empty action
        return Action(tokens=list(next(self.turns, [])), versions=[], finish_reason="stop")
