"""The environment API: token-level episodes, outcomes apart from rewards.

An environment turns a data row into an episode. ``start(row)`` gives the
episode's state and its first transition, whose observation is the prompt
(token ids); ``step(state, action)`` takes the policy's action tokens and gives
the next transition: the tokens the environment appends (a tool result, the
next user turn; empty when there is nothing to add), whether the episode is
over (``terminal``: the task ended it; ``truncated``: a limit did), and named
``outcomes`` (``pass``, ``frames_exact``, ``compiled`` ...). Environments never
compute rewards: `Reward` plugins read the rollout and its outcomes, so one
environment serves many rewards.

    env = registry("environment").create("trace-prediction")
    state, first = env.start(row)
    rollout = Rollout(row_id=row["id"], prompt=first.observation)
    while not rollout.done:
        action = await policy.act(rollout.tokens, sampling)
        rollout.add(action, env.step(state, action.tokens))
    state.close()

What a policy may see: the observation tokens, nothing else. The row's answer
(the true trace, the hidden tests, the oracle patch) stays in the state; only
the ``oracle`` policy asks the environment for it, through ``reference``.

When a limit ends an episode (the turn cap, the context, the deadline), the
runner asks the environment for its last word: ``finish(state, reason)`` gives a
transition whose ``outcomes`` and ``info`` join the episode's last transition
(the swe environment grades the last submission there). It is optional; `Env`'s
default adds nothing.

Async: ``astart``, ``astep`` and ``afinish`` let one event loop drive many episodes at once;
`Env`'s defaults run the blocking methods in a worker thread, and an
environment whose work is I/O overrides them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import msgspec

from cwm.core.envs.policy import Action

#: outcome values are small scalars, so they aggregate and serialize everywhere
OutcomeValue = bool | int | float | str

#: why an episode ended (``Transition.finish``), beside the environment's own reasons
FINISH_CONTEXT = "context"  # the history outgrew the model's context
FINISH_TURNS = "turns"  # the turn cap was reached
FINISH_DEADLINE = "deadline"  # the episode's wall-clock budget ran out


class Transition(msgspec.Struct, frozen=True, kw_only=True):
    """What the environment says after ``start`` or one ``step``."""

    observation: list[int] = []  # token ids appended to the context; the prompt at start
    terminal: bool = False  # the task is over (an answer was given, the agent submitted)
    truncated: bool = False  # a limit ended the episode (turns, context, deadline)
    finish: str = ""  # why it ended, when it did: the environment's word or a FINISH_*
    outcomes: dict[str, OutcomeValue] = {}  # named results, merged over the episode
    info: dict[str, Any] = {}  # anything else worth logging (not for rewards to rely on)

    @property
    def done(self) -> bool:
        return self.terminal or self.truncated


@runtime_checkable
class State(Protocol):
    """One episode's hidden state; ``close()`` frees what it holds (sandboxes, processes)."""

    def close(self) -> None: ...


@runtime_checkable
class Environment(Protocol):
    """What an ``environment`` plugin's factory returns."""

    name: str

    def start(self, row: Mapping[str, Any]) -> tuple[State, Transition]: ...

    def step(self, state: State, action: Sequence[int]) -> Transition: ...

    async def astart(self, row: Mapping[str, Any]) -> tuple[State, Transition]: ...

    async def astep(self, state: State, action: Sequence[int]) -> Transition: ...

    def reference(self, state: State) -> list[list[int]]:
        """The oracle's actions for this episode, one token list per turn."""
        ...


class Env:
    """A base for environments: subclasses write ``start``, ``step`` and ``reference``;
    the async variants run them in a worker thread."""

    name = "env"

    def start(self, row: Mapping[str, Any]) -> tuple[State, Transition]:
        raise NotImplementedError

    def step(self, state: State, action: Sequence[int]) -> Transition:
        raise NotImplementedError

    def reference(self, state: State) -> list[list[int]]:
        raise NotImplementedError(f"environment {self.name!r} has no oracle")

    def finish(self, state: State, reason: str) -> Transition:
        """The episode's last word when a limit (``reason``: a FINISH_*) ended it: final
        outcomes and info, merged into its last transition. Called at most once, before
        ``state.close()``; the default has nothing to add."""
        return Transition(truncated=True, finish=reason)

    def close(self) -> None:
        """Free what the environment itself holds (worker pools); episodes close their state."""

    async def astart(self, row: Mapping[str, Any]) -> tuple[State, Transition]:
        return await asyncio.to_thread(self.start, row)

    async def astep(self, state: State, action: Sequence[int]) -> Transition:
        return await asyncio.to_thread(self.step, state, action)

    async def afinish(self, state: State, reason: str) -> Transition:
        return await asyncio.to_thread(self.finish, state, reason)


class NoState:
    """The state of an environment that holds nothing to free."""

    def close(self) -> None:
        pass


@dataclass
class Rollout:
    """One episode as the policy lived it: the prompt, then each action and what followed."""

    row_id: str
    prompt: list[int]
    actions: list[Action] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)

    def add(self, action: Action, transition: Transition) -> None:
        self.actions.append(action)
        self.transitions.append(transition)

    @property
    def done(self) -> bool:
        return bool(self.transitions) and self.transitions[-1].done

    @property
    def finish(self) -> str:
        return self.transitions[-1].finish if self.transitions else ""

    @property
    def outcomes(self) -> dict[str, OutcomeValue]:
        """Every transition's outcomes merged, later ones winning."""
        merged: dict[str, OutcomeValue] = {}
        for t in self.transitions:
            merged.update(t.outcomes)
        return merged

    @property
    def tokens(self) -> list[int]:
        """The context so far: prompt, then each action and its observation."""
        out = list(self.prompt)
        for action, t in zip(self.actions, self.transitions):
            out += action.tokens
            out += t.observation
        return out


@runtime_checkable
class Reward(Protocol):
    """What a ``reward`` plugin's factory returns for environments: a float placed on the
    last action token, or one float per action token (a dense reward)."""

    range: tuple[float, float]

    def __call__(self, rollout: Rollout) -> float | Sequence[float]: ...


def token_rewards(value: float | Sequence[float], rollout: Rollout) -> list[float]:
    """A reward's value spread over the rollout's action tokens (zeros but the last for a
    float), so every reward can be trained on token by token."""
    n = sum(len(a.tokens) for a in rollout.actions)
    if isinstance(value, int | float):
        return [0.0] * (n - 1) + [float(value)] if n else []
    values = [float(v) for v in value]
    if len(values) != n:
        raise ValueError(f"a dense reward gave {len(values)} values for {n} action tokens")
    return values
