"""The actor: many episodes at once on the in-process engine, weights applied between steps.

One `tick` is one engine step (every running sequence decodes a token, new prompts
prefill); the actions that ended in it go to the environment on worker threads
(`EnvSteps`), so the engine keeps decoding while an environment grades. With
``deterministic`` the tick waits for its steps and lands them in the engine's order, so a
run is a function of its seed; free-running, a step lands at the first tick after it is
done. New weights arrive with `apply` between ticks: running sequences keep their KV
cache, and each token records the version that sampled it (the engine's ``versions``).

Every episode ends exactly once (`_end`): by the environment (a done transition), by a
harness limit (``context``) or by the run (``abort``: a checkpoint restarts it, the run
stops). For the latter two the environment's optional
``finish(state, reason)`` gives its last word first; ``state.close()`` always follows.

The actor speaks the core `Environment` protocol (``start``/``step``/``reference``)
and the core reward protocol; any environment plugin runs here.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
from torch import Tensor

from cwm.core.envs import (
    FINISH_CONTEXT,
    Environment,
    Reward,
    Rollout,
    Sampling,
    State,
    fit_max_tokens,
    token_rewards,
)
from cwm.core.envs.policy import Action
from cwm.rl.policies.engine import engine_action, engine_params
from cwm.rl.run.env_steps import EnvSteps
from cwm.rl.run.samples import EpisodeSpec, Group, Sample
from cwm.rl.run.servers import ServerPool
from cwm.serve.engine import LLMEngine

#: why an episode ended when the run stopped it (a checkpoint restarts it, the run ended)
FINISH_ABORT = "abort"
#: how long an actor with nothing to decode waits for an environment step before it returns
IDLE_WAIT_S = 0.005


@dataclass
class LiveTask:
    """A task built for the run: its environment, reward and rows."""

    name: str
    env: Environment
    reward: Reward
    rows: Sequence[Mapping[str, Any]]
    max_tokens: int
    temperature: float = 1.0


@dataclass
class Episode:
    spec: EpisodeSpec
    index: int  # which sample of the group
    state: State
    rollout: Rollout
    turn: int = 0
    finish: str = ""
    truncated: bool = False
    request: str = ""
    ended: bool = False  # state closed: nothing more may touch it


@dataclass
class GroupInFlight:
    spec: EpisodeSpec
    issue_version: int
    episodes: list[Episode]
    done: list[Sample | None] = field(default_factory=list)


class Actor:
    def __init__(
        self,
        engine: LLMEngine | ServerPool,
        tasks: Mapping[str, LiveTask],
        group_size: int,
        *,
        recompute_kv: bool = False,
        env_workers: int = 4,
        deterministic: bool = True,
    ):
        self.engine, self.tasks, self.group_size = engine, tasks, group_size
        self.recompute_kv, self.deterministic = recompute_kv, deterministic
        self.steps: EnvSteps[tuple[Episode, Action]] = EnvSteps(env_workers)
        self.groups: dict[int, GroupInFlight] = {}
        self.by_request: dict[str, Episode] = {}
        self.generated_tokens = 0
        self.busy_seconds = 0.0  # in engine steps: generation's own time, apart from waits

    # -- episodes -------------------------------------------------------------------

    def issue(self, spec: EpisodeSpec) -> list[Group]:
        """Start the group's episodes; returns it at once if none needs the model."""
        task = self.tasks[spec.task]
        row = task.rows[spec.row]
        version = self.engine.policy_version
        flight = GroupInFlight(spec, version, [], [None] * self.group_size)
        self.groups[spec.group] = flight
        for i in range(self.group_size):
            state, first = task.env.start(row)
            ep = Episode(
                spec,
                i,
                state,
                Rollout(row_id=str(row.get("id", spec.row)), prompt=list(first.observation)),
            )
            flight.episodes.append(ep)
            self._request(ep)
        return self._collect()

    def _request(self, ep: Episode) -> None:
        task = self.tasks[ep.spec.task]
        context = ep.rollout.tokens
        max_tokens = fit_max_tokens(task.max_tokens, len(context), self.engine.max_model_len)
        if max_tokens < 1:  # the history outgrew the context: the episode ends here
            self._end(ep, FINISH_CONTEXT)
            return
        sampling = Sampling(
            temperature=task.temperature,
            seed=ep.spec.seed + 1000 * ep.turn + ep.index,
            stop_token_ids=tuple(getattr(task.env, "stop_token_ids", ())),
        )
        params = engine_params(sampling, max_tokens)
        ep.request = f"g{ep.spec.group}-s{ep.index}-t{ep.turn}"
        self.engine.add_request(ep.request, context, params)
        self.by_request[ep.request] = ep

    def tick(self) -> list[Group]:
        """One engine step, its actions handed to the environment, and the environment
        steps that landed; the groups that finished."""
        start = time.perf_counter()
        outs = self.engine.step() if self.engine.has_unfinished() else []
        self.busy_seconds += time.perf_counter() - start
        for out in outs:
            if not out.finished:
                continue
            ep = self.by_request.pop(out.request_id)
            action = engine_action(out.outputs[0])
            self.generated_tokens += len(action.tokens)
            self.steps.submit(
                (ep, action), self.tasks[ep.spec.task].env.step, ep.state, action.tokens
            )
        idle = not self.engine.has_unfinished()
        landed = self.steps.land(wait_all=self.deterministic, timeout=IDLE_WAIT_S if idle else 0)
        for (ep, action), future in landed:
            transition = future.result()  # an environment that raises stops the run
            ep.rollout.add(action, transition)
            ep.turn += 1
            if transition.done:
                ep.finish, ep.truncated = transition.finish, transition.truncated
                self._end(ep)
            else:
                self._request(ep)
        return self._collect()

    def _end(self, ep: Episode, reason: str = "") -> None:
        """End the episode once: the environment's last word when the harness or the run
        ended it (``reason``), then its state closed, then its sample when it counts."""
        if ep.ended:
            return
        ep.ended = True
        env = self.tasks[ep.spec.task].env
        try:
            if reason:
                ep.finish, ep.truncated = reason, True
                if callable(getattr(env, "finish", None)):
                    self._merge_last(ep, env.finish(ep.state, reason), reason)
        finally:
            ep.state.close()
        if reason != FINISH_ABORT:
            self._finish(ep)

    @staticmethod
    def _merge_last(ep: Episode, last: Any, reason: str) -> None:
        """The environment's final outcomes join the episode's last transition (as in eval)."""
        rollout = ep.rollout
        if not rollout.transitions:
            return
        t = rollout.transitions[-1]
        rollout.transitions[-1] = msgspec.structs.replace(
            t,
            truncated=True,
            finish=reason,
            outcomes={**t.outcomes, **last.outcomes},
            info={**t.info, **last.info},
        )

    def _finish(self, ep: Episode) -> None:
        task = self.tasks[ep.spec.task]
        rollout = ep.rollout
        reward = sum(token_rewards(task.reward(rollout), rollout)) if rollout.actions else 0.0
        tokens, action = list(rollout.prompt), [False] * len(rollout.prompt)
        logprobs: list[float] = []
        versions: list[int] = []
        last = len(rollout.actions) - 1
        for k, (a, t) in enumerate(zip(rollout.actions, rollout.transitions)):
            tokens += a.tokens
            action += [True] * len(a.tokens)
            logprobs += a.logprobs
            versions += a.versions
            if k < last:  # the last observation is never trained on nor read
                tokens += t.observation
                action += [False] * len(t.observation)
        flight = self.groups[ep.spec.group]
        flight.done[ep.index] = Sample(
            tokens=tokens,
            action=action,
            logprobs=logprobs,
            versions=versions,
            reward=reward,
            truncated=ep.truncated or any(a.finish_reason == "length" for a in rollout.actions),
            finish=ep.finish,
            issue_version=flight.issue_version,
        )

    def _collect(self) -> list[Group]:
        finished = [g for g in self.groups.values() if all(s is not None for s in g.done)]
        for g in finished:
            del self.groups[g.spec.group]
        return [
            Group(
                spec=g.spec,
                row_id=g.episodes[0].rollout.row_id,
                issue_version=g.issue_version,
                samples=[s for s in g.done if s is not None],
            )
            for g in finished
        ]

    # -- in flight ------------------------------------------------------------------

    def in_flight(self) -> list[tuple[EpisodeSpec, int]]:
        """(spec, issue version) of every unfinished group, oldest first."""
        return [(g.spec, g.issue_version) for g in self.groups.values()]

    def abort_all(self) -> list[EpisodeSpec]:
        """Stop every episode in flight (their tokens are dropped; each environment gets its
        ``finish`` and ``close``); their specs, to re-issue."""
        for (ep, _), future in self.steps.drain():  # a step in a worker still holds its state
            # its episode restarts, so the step's result is moot; but an environment that
            # ended the episode in it is done with it: closed, with no finish
            if future.exception() is None and future.result().done:
                ep.ended = True
                ep.state.close()
        specs = []
        for g in self.groups.values():
            specs.append(g.spec)
            for ep in g.episodes:
                if ep.request in self.by_request:
                    self.engine.abort(ep.request)
                    del self.by_request[ep.request]
                self._end(ep, FINISH_ABORT)
        self.groups.clear()
        return specs

    def close(self) -> None:
        """The run is over: every episode in flight ends (``abort``), the workers stop."""
        self.abort_all()
        self.steps.shutdown()

    # -- weights --------------------------------------------------------------------

    def apply(self, weights: Mapping[str, Tensor], version: int) -> tuple[float, int]:
        """Copy a published version into the engine; (seconds, bytes)."""
        start = time.perf_counter()
        self.engine.update_weights(weights, version, recompute_kv=self.recompute_kv)
        size = sum(t.numel() * t.element_size() for t in weights.values())
        return time.perf_counter() - start, size
