"""Drive one episode: the policy acts, the environment steps, limits end it.

`run_episode` never raises on what the model writes: an environment that fails
on an action (or on its row) ends the episode with finish ``error`` and the
error as an outcome; a context with no room left ends it ``truncated`` with
FINISH_CONTEXT, the turn cap with FINISH_TURNS, the wall-clock budget with
FINISH_DEADLINE. When a limit ends it, an environment with ``afinish`` (see
`cwm.core.envs.Env.finish`) gives its final outcomes (the swe environment grades
the last submission), outside the deadline. Failures of the policy itself (a server that went away)
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

#: where a row keeps its id: ours, SWE-bench's, HumanEval's (the first string one wins)
ID_KEYS = ("id", "instance_id", "task_id")


def row_id(row: Mapping[str, Any]) -> str | None:
    """The row's id, or None when it has none."""
    return next((row[k] for k in ID_KEYS if isinstance(row.get(k), str)), None)


@dataclass(frozen=True)
class EpisodeLimits:
    max_turns: int = 1
    deadline_s: float = 300.0


@dataclass
class Episode:
    rollout: Rollout
    seconds: float
    turns: int


def _end(
    rollout: Rollout,
    *,
    finish: str,
    outcomes: Mapping[str, Any] | None = None,
    info: Mapping[str, Any] | None = None,
) -> None:
    """Mark the rollout truncated: its last transition, or an empty action's when it has none."""
    extra, more = dict(outcomes or {}), dict(info or {})
    if rollout.transitions:
        last = rollout.transitions[-1]
        if last.done:
            return
        rollout.transitions[-1] = msgspec.structs.replace(
            last,
            truncated=True,
            finish=finish,
            outcomes={**last.outcomes, **extra},
            info={**last.info, **more},
        )
    else:
        rollout.add(
            Action(tokens=[], finish_reason="abort"),
            Transition(truncated=True, finish=finish, outcomes=extra, info=more),
        )


async def _truncate(env: Any, state: Any, rollout: Rollout, finish: str) -> None:
    """End the rollout for a limit, with the environment's final outcomes when it has any."""
    if rollout.done:
        return
    outcomes: dict[str, Any] = {}
    info: dict[str, Any] = {}
    if state is not None and hasattr(env, "afinish"):
        try:
            last = await env.afinish(state, finish)
            outcomes, info = dict(last.outcomes), dict(last.info)
        except Exception as exc:  # grading failed: an outcome, like a failed step
            outcomes = {"error": f"finish: {exc}"}
    _end(rollout, finish=finish, outcomes=outcomes, info=info)


async def _steps(
    env: Any,
    policy: Any,
    row: Mapping[str, Any],
    sampling: Sampling,
    limits: EpisodeLimits,
    rollout: Rollout,
    opened: list[Any],
) -> None:
    try:
        state, first = await env.astart(row)
    except Exception as exc:  # a bad row: the run goes on
        _end(rollout, finish=FINISH_ERROR, outcomes={"error": f"start: {exc}"})
        return
    opened.append(state)
    rollout.prompt = list(first.observation)
    actor = policy.for_episode(env, state) if hasattr(policy, "for_episode") else policy
    while not rollout.done:
        if len(rollout.actions) >= limits.max_turns:
            await _truncate(env, state, rollout, FINISH_TURNS)
            break
        context = rollout.tokens
        if fit_max_tokens(sampling.max_tokens, len(context), actor.context_len) < 1:
            await _truncate(env, state, rollout, FINISH_CONTEXT)
            break
        action = await actor.act(context, sampling)
        try:
            transition = await env.astep(state, action.tokens)
        except Exception as exc:  # the environment choked on the action: an outcome
            transition = Transition(
                truncated=True, finish=FINISH_ERROR, outcomes={"error": f"step: {exc}"}
            )
        rollout.add(action, transition)


async def run_episode(
    env: Any,
    policy: Any,
    row: Mapping[str, Any],
    sampling: Sampling,
    limits: EpisodeLimits = EpisodeLimits(),
) -> Episode:
    """One episode of ``env`` on ``row`` acted by ``policy``, to its end or a limit."""
    rollout = Rollout(row_id=row_id(row) or "", prompt=[])
    started = time.perf_counter()
    opened: list[Any] = []  # the episode's state, once started
    try:
        try:
            async with asyncio.timeout(limits.deadline_s):
                await _steps(env, policy, row, sampling, limits, rollout, opened)
        except TimeoutError:
            await _truncate(env, opened[0] if opened else None, rollout, FINISH_DEADLINE)
    finally:
        for state in opened:
            state.close()
    return Episode(rollout, time.perf_counter() - started, len(rollout.actions))
