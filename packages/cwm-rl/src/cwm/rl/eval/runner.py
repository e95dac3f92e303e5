"""Drive one episode: the policy acts, the environment steps, limits end it.

`run_episode` never raises on what the model writes: an environment that fails
on an action (or on its row) ends the episode with finish ``error`` and the
error as an outcome; a context with no room left ends it ``truncated`` with
FINISH_CONTEXT, the turn cap with FINISH_TURNS, the wall-clock budget with
FINISH_DEADLINE. Failures of the policy itself (a server that went away)
propagate: they are not the model's fault and the run should stop, resumable.

A policy with ``for_episode(env, state)`` (the oracle) acts through the object
it returns for that episode.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from cwm.core.envs import (
    FINISH_CONTEXT,
    FINISH_DEADLINE,
    FINISH_TURNS,
    Action,
    Rollout,
    Sampling,
    Transition,
    fit_max_tokens,
)

FINISH_ERROR = "error"  # the environment failed on this row or action


@dataclass(frozen=True)
class EpisodeLimits:
    max_turns: int = 1
    deadline_s: float = 300.0


@dataclass
class Episode:
    rollout: Rollout
    seconds: float
    turns: int


def _end(rollout: Rollout, *, finish: str, outcomes: Mapping[str, Any] | None = None) -> None:
    """Mark the rollout truncated: its last transition, or an empty action's when it has none."""
    extra = dict(outcomes or {})
    if rollout.transitions:
        last = rollout.transitions[-1]
        if last.done:
            return
        rollout.transitions[-1] = msgspec.structs.replace(
            last, truncated=True, finish=finish, outcomes={**last.outcomes, **extra}
        )
    else:
        rollout.add(
            Action(tokens=[], finish_reason="abort"),
            Transition(truncated=True, finish=finish, outcomes=extra),
        )


async def _steps(
    env: Any,
    policy: Any,
    row: Mapping[str, Any],
    sampling: Sampling,
    limits: EpisodeLimits,
    rollout: Rollout,
) -> None:
    try:
        state, first = await env.astart(row)
    except Exception as exc:  # a bad row: the run goes on
        _end(rollout, finish=FINISH_ERROR, outcomes={"error": f"start: {exc}"})
        return
    try:
        rollout.prompt = list(first.observation)
        actor = policy.for_episode(env, state) if hasattr(policy, "for_episode") else policy
        while not rollout.done:
            if len(rollout.actions) >= limits.max_turns:
                _end(rollout, finish=FINISH_TURNS)
                break
            context = rollout.tokens
            if fit_max_tokens(sampling.max_tokens, len(context), actor.context_len) < 1:
                _end(rollout, finish=FINISH_CONTEXT)
                break
            action = await actor.act(context, sampling)
            try:
                transition = await env.astep(state, action.tokens)
            except Exception as exc:  # the environment choked on the action: an outcome
                transition = Transition(
                    truncated=True, finish=FINISH_ERROR, outcomes={"error": f"step: {exc}"}
                )
            rollout.add(action, transition)
    finally:
        state.close()


async def run_episode(
    env: Any,
    policy: Any,
    row: Mapping[str, Any],
    sampling: Sampling,
    limits: EpisodeLimits = EpisodeLimits(),
) -> Episode:
    """One episode of ``env`` on ``row`` acted by ``policy``, to its end or a limit."""
    rollout = Rollout(row_id=str(row.get("id", "")), prompt=[])
    started = time.perf_counter()
    try:
        async with asyncio.timeout(limits.deadline_s):
            await _steps(env, policy, row, sampling, limits, rollout)
    except TimeoutError:
        _end(rollout, finish=FINISH_DEADLINE)
    return Episode(rollout, time.perf_counter() - started, len(rollout.actions))
