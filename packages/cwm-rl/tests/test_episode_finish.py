"""When the harness's limits end an episode (turn cap, context, deadline), the environment's
``finish`` hook still gives its final outcomes: the swe environment grades the last submission."""

from __future__ import annotations

import asyncio

import pytest
from swe_repo import make_repo, swebench_row

from cwm.core.envs import (
    FINISH_CONTEXT,
    FINISH_DEADLINE,
    FINISH_TURNS,
    Action,
    Env,
    NoState,
    Sampling,
    Transition,
)
from cwm.core.plugins import registry
from cwm.rl.eval.runner import EpisodeLimits, run_episode

OPTIONS = {"sandbox": "local", "command_timeout": 5.0, "test_timeout": 60.0}


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(make_repo(tmp_path_factory.mktemp("swe") / "mylib"))


@pytest.fixture(scope="module")
def env():
    env = registry("environment").create("swe", **OPTIONS)
    yield env
    env.close()


class FixThenDawdle:
    """Applies and submits the oracle patch, then keeps calling tools instead of finishing;
    ``slow`` makes each later turn take that long (for the deadline)."""

    name = "dawdler"

    def __init__(self, context_len: int = 1 << 30, slow: float = 0.0):
        self.context_len, self.slow = context_len, slow

    def for_episode(self, env, state):
        fix, submit, _ = env.reference(state)
        return _Turns(env, [fix, submit], self.context_len, self.slow)


class _Turns:
    name = "dawdler"

    def __init__(self, env, first, context_len, slow):
        self.env, self.first, self.context_len, self.slow = env, list(first), context_len, slow

    async def act(self, context, sampling):
        if self.first:
            return Action(tokens=self.first.pop(0))
        await asyncio.sleep(self.slow)
        return Action(tokens=self.env.chat.action("<tool: bash>\nseq 1 300\n</tool>"))


def _episode(env, row, policy, limits):
    return asyncio.run(run_episode(env, policy, row, Sampling(max_tokens=64), limits)).rollout


def test_the_turn_cap_of_the_harness_grades_the_last_submission(env, repo) -> None:
    rollout = _episode(env, swebench_row(repo), FixThenDawdle(), EpisodeLimits(max_turns=4))
    assert rollout.finish == FINISH_TURNS and rollout.transitions[-1].truncated
    out = rollout.outcomes
    assert out["pass"] is True and out["submitted"] is True and out["turns"] == 4
    assert rollout.transitions[-1].info["patch"].startswith("diff --git a/mylib.py")
    assert registry("reward").create("swe")(rollout) == 1.0


def test_a_full_context_grades_the_last_submission(env, repo) -> None:
    row = swebench_row(repo)
    state, first = env.start(row)
    state.close()
    # room for the fix, the submission and one more turn; then no room left
    policy = FixThenDawdle(context_len=len(first.observation) + 900)
    rollout = _episode(env, row, policy, EpisodeLimits(max_turns=50))
    assert rollout.finish == FINISH_CONTEXT
    assert rollout.outcomes["pass"] is True and rollout.outcomes["submitted"] is True


def test_the_deadline_grades_the_last_submission(env, repo) -> None:
    policy = FixThenDawdle(slow=0.5)
    limits = EpisodeLimits(max_turns=100, deadline_s=6.0)
    rollout = _episode(env, swebench_row(repo), policy, limits)
    assert rollout.finish == FINISH_DEADLINE
    assert rollout.outcomes["pass"] is True and rollout.outcomes["submitted"] is True


def test_an_episode_cut_before_any_submission_is_graded_as_failed(env, repo) -> None:
    class Chatter:
        name = "chatter"
        context_len = 1 << 30

        async def act(self, context, sampling):
            return Action(tokens=env.chat.action("Let me think."))

    rollout = _episode(env, swebench_row(repo), Chatter(), EpisodeLimits(max_turns=2))
    assert rollout.finish == FINISH_TURNS
    assert rollout.outcomes["pass"] is False and rollout.outcomes["submitted"] is False
    assert rollout.outcomes["format_errors"] == 2
    assert registry("reward").create("swe")(rollout) == -1.0


class Counted(Env):
    """An environment whose ``finish`` reports how far the episode got, or fails."""

    name = "counted"

    def __init__(self, fail: bool = False):
        self.fail, self.finished = fail, []

    def start(self, row):
        state = NoState()
        state.turns = 0
        return state, Transition(observation=[1, 2])

    def step(self, state, action):
        state.turns += 1
        return Transition(observation=[3])

    def finish(self, state, reason):
        if self.fail:
            raise RuntimeError("grader down")
        self.finished.append(reason)
        return Transition(truncated=True, finish=reason, outcomes={"reached": state.turns})


class Talker:
    name = "talker"
    context_len = 1 << 30

    async def act(self, context, sampling):
        return Action(tokens=[7])


def test_finish_is_called_once_and_its_failure_is_an_outcome() -> None:
    counted = Counted()
    rollout = _episode(counted, {"id": "x"}, Talker(), EpisodeLimits(max_turns=3))
    assert counted.finished == [FINISH_TURNS] and rollout.outcomes["reached"] == 3
    broken = _episode(Counted(fail=True), {"id": "x"}, Talker(), EpisodeLimits(max_turns=2))
    assert broken.finish == FINISH_TURNS and broken.outcomes["error"] == "finish: grader down"
