"""A small episode loop for the environment tests: the oracle's actions, or given replies.

(The harness's runner drives real policies; these tests only need the environment.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from cwm.core.envs import Action, Environment, Rollout


def row_id(row: Mapping[str, Any]) -> str:
    return str(row.get("id") or row.get("task_id") or row.get("instance_id"))


Actions = Sequence[list[int]] | Callable[[Any], Sequence[list[int]]]


def play(env: Environment, row: Mapping[str, Any], actions: Actions | None = None) -> Rollout:
    """One episode with ``actions`` (default: the oracle's; a callable makes them from the
    episode's state), stopped when the episode ends."""
    state, first = env.start(row)
    rollout = Rollout(row_id=row_id(row), prompt=first.observation)
    make = env.reference if actions is None else actions
    try:
        for tokens in make(state) if callable(make) else make:
            rollout.add(Action(tokens=tokens), env.step(state, tokens))
            if rollout.done:
                break
    finally:
        state.close()
    return rollout


def play_texts(env: Any, row: Mapping[str, Any], replies: Sequence[str]) -> Rollout:
    """One episode whose replies are ``replies`` (each closed by the end-of-turn token)."""
    return play(env, row, [env.chat.action(text) for text in replies])


async def aplay_oracle(env: Environment, row: Mapping[str, Any]) -> Rollout:
    state, first = await env.astart(row)
    rollout = Rollout(row_id=row_id(row), prompt=first.observation)
    try:
        for tokens in env.reference(state):
            rollout.add(Action(tokens=tokens), await env.astep(state, tokens))
            if rollout.done:
                break
    finally:
        state.close()
    return rollout


def play_all_oracle(
    env: Environment, rows: Sequence[Mapping[str, Any]], concurrency: int = 4
) -> list[Rollout]:
    """Oracle episodes of every row, ``concurrency`` at once through the async API."""

    async def main() -> list[Rollout]:
        gate = asyncio.Semaphore(concurrency)

        async def one(row: Mapping[str, Any]) -> Rollout:
            async with gate:
                return await aplay_oracle(env, row)

        return await asyncio.gather(*(one(r) for r in rows))

    return asyncio.run(main())
