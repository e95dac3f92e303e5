"""The environment API: rollouts assemble the context and outcomes; rewards spread over tokens."""

import asyncio

import pytest

from cwm.core.envs import (
    Action,
    Env,
    Environment,
    NoState,
    Rollout,
    Transition,
    token_rewards,
)


class Countdown(Env):
    """Say the row's number back; each wrong guess is answered with token 0."""

    name = "countdown"

    def start(self, row):
        state = NoState()
        state.answer = row["n"]
        return state, Transition(observation=[100, row["n"]])

    def step(self, state, action):
        if list(action) == [state.answer]:
            return Transition(terminal=True, finish="answered", outcomes={"pass": True})
        return Transition(observation=[0], outcomes={"pass": False})

    def reference(self, state):
        return [[state.answer]]


def test_rollout_context_outcomes_and_finish():
    env = Countdown()
    assert isinstance(env, Environment)
    state, first = env.start({"id": "r", "n": 7})
    rollout = Rollout(row_id="r", prompt=first.observation)
    for guess in ([3], [7]):
        rollout.add(Action(tokens=guess), env.step(state, guess))
    assert rollout.tokens == [100, 7, 3, 0, 7]
    assert rollout.done and rollout.finish == "answered"
    assert rollout.outcomes == {"pass": True}  # the later outcome wins


def test_async_defaults_run_the_blocking_methods():
    env = Countdown()

    async def episode():
        state, _ = await env.astart({"id": "r", "n": 5})
        return await env.astep(state, env.reference(state)[0])

    assert asyncio.run(episode()).terminal


def test_token_rewards_sparse_and_dense():
    rollout = Rollout(row_id="r", prompt=[1])
    rollout.add(Action(tokens=[2, 3]), Transition(observation=[4]))
    rollout.add(Action(tokens=[5]), Transition(terminal=True))
    assert token_rewards(1.5, rollout) == [0.0, 0.0, 1.5]
    assert token_rewards([0.1, 0.2, 0.3], rollout) == [0.1, 0.2, 0.3]
    with pytest.raises(ValueError, match="2 values for 3 action tokens"):
        token_rewards([0.1, 0.2], rollout)


def test_max_tokens_fit_the_room_left_in_the_context():
    from cwm.core.envs import fit_max_tokens

    assert fit_max_tokens(4096, 534, 4096) == 3562  # the cap shrinks to the room left
    assert fit_max_tokens(256, 534, 4096) == 256  # a cap below the room stays
    assert fit_max_tokens(256, 4096, 4096) == 0  # no room: the episode ends "context"
    assert fit_max_tokens(256, 5000, 4096) == 0


def test_finish_defaults_to_nothing_to_add():
    env = Countdown()
    state, _ = env.start({"id": "r", "n": 7})
    last = asyncio.run(env.afinish(state, "turns"))
    assert last.truncated and last.finish == "turns" and last.outcomes == {} and last.info == {}
