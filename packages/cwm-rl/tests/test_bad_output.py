"""Bad model output gets an outcome and a reward, never an exception that stops a run."""

import asyncio
import subprocess
import sys

import pytest
from rl_fixtures import OUTPUT_ROWS, TRACE_ROWS

from cwm.core.envs import (
    FINISH_CONTEXT,
    FINISH_DEADLINE,
    FINISH_TURNS,
    Action,
    Env,
    NoState,
    Rollout,
    Sampling,
    Transition,
)
from cwm.core.plugins import registry
from cwm.core.tokenizer import Tokenizer
from cwm.rl.eval.runner import EpisodeLimits, run_episode
from cwm.rl.policies import OraclePolicy

TOK = Tokenizer()


@pytest.fixture(scope="module")
def output_env():
    env = registry("environment").create("output-prediction", mode="direct")
    yield env
    env.close()


@pytest.fixture(scope="module")
def trace_env():
    env = registry("environment").create("trace-prediction", mode="full")
    yield env
    env.close()


def _reply(env, row, text):
    state, _ = env.start(row)
    return env.step(state, [*TOK.encode(text), TOK.eot_id]).outcomes


@pytest.mark.parametrize(
    ("reply", "check"),
    [
        ("{3, 1}", "pass"),  # equal to {1, 3}, written differently
        ("```python\n{1, 3}\n```", "pass"),
        ("{1, 2}", "fail"),
        ("[x for x in iter(int, 1)]", "limit"),  # never ends: stopped by the time limit
        ("print('x' * 10**7) or {1, 3}", "limit"),  # floods stdout: stopped at the cap
        ("1 / 0", "error"),
        ("{1, 3})", "syntax"),
        ("1if 2 else 3", "fail"),  # Python warns about the literal: see the test below
        ("{1, 3} # comment", "pass"),
        ("", "no-answer"),
    ],
)
def test_predictions_are_checked_by_running_them(output_env, reply, check):
    outcomes = _reply(output_env, OUTPUT_ROWS[1], reply)
    assert outcomes["check"] == check
    assert outcomes["pass"] is (check == "pass")


def test_a_garbled_answer_prints_no_syntax_warning():
    # every sample is parsed: a SyntaxWarning per garbled one would flood the terminal
    code = "from cwm.rl.envs.executor import is_expression; print(is_expression('1if 2 else 3'))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert (done.stdout, done.stderr) == ("True\n", "")


@pytest.mark.parametrize("name", ["output-prediction", "input-prediction"])
def test_ids_past_the_tokenizer_vocabulary_are_dropped_not_fatal(name):
    # a model's embedding table may be larger than the tokenizer's vocabulary
    env = registry("environment").create(name)
    state, _ = env.start(OUTPUT_ROWS[1])
    (reference,) = env.reference(state)
    outcomes = env.step(state, [TOK.n_vocab + 7, *reference]).outcomes
    assert outcomes["check"] == "pass"


def test_an_unparseable_trace_scores_zero_frames(trace_env):
    state, _ = trace_env.start(TRACE_ROWS[0])
    outcomes = trace_env.step(state, TOK.encode("not a trace at all")).outcomes
    assert outcomes["parsed"] is False and outcomes["frames_exact"] == 0.0
    assert outcomes["trace_exact"] is False


def test_frames_are_scored_one_by_one_and_rewarded_densely(trace_env):
    state, first = trace_env.start(TRACE_ROWS[0])
    (truth,) = trace_env.reference(state)
    frame_sep = TOK.token_id("<|frame_sep|>")
    cut = truth.index(frame_sep) + 1  # the first frame right, then garbage
    action = truth[:cut] + TOK.encode("garbage")
    transition = trace_env.step(state, action)
    n = transition.outcomes["frames"]
    assert transition.outcomes["frames_exact"] == pytest.approx(1 / n)
    assert transition.outcomes["frame_hits"] == "1" + "0" * (n - 1)
    rollout = Rollout(row_id="sum", prompt=first.observation)
    rollout.add(Action(tokens=action), transition)
    dense = registry("reward").create("frames-exact")(rollout)
    assert len(dense) == len(action) and dense[cut - 1] == pytest.approx(1 / n)
    assert sum(dense) == pytest.approx(1 / n)


def test_a_next_frame_gets_partial_credit_up_to_its_first_wrong_token():
    env = registry("environment").create("trace-prediction", mode="next-frame")
    row = env.expand(TRACE_ROWS[0])[1]
    state, _ = env.start(row)
    (truth,) = env.reference(state)
    reward = registry("reward").create("outcome", key="frame_prefix")

    def credit(action):
        rollout = Rollout(row_id=row["id"], prompt=[])
        rollout.add(Action(tokens=action), env.step(state, action))
        return rollout.outcomes["frames_exact"], reward(rollout)

    assert credit(truth) == (1.0, 1.0)
    half = len(truth) // 2
    wrong = truth[:half] + TOK.encode("??")
    assert credit(wrong) == (0.0, pytest.approx(half / len(truth)))
    assert credit(TOK.encode("??")) == (0.0, 0.0)


def test_a_full_context_ends_the_episode_truncated(trace_env):
    sampling = Sampling(max_tokens=16)
    episode = asyncio.run(run_episode(trace_env, _NoOracle(8), TRACE_ROWS[0], sampling))
    assert episode.rollout.finish == FINISH_CONTEXT and episode.rollout.transitions[-1].truncated
    assert episode.turns == 1 and episode.rollout.actions[0].tokens == []


class _NoOracle:
    """A policy whose context has no room at all: it must never be asked to act."""

    name = "full"

    def __init__(self, context_len: int):
        self.context_len = context_len

    async def act(self, context, sampling):
        raise AssertionError("asked to act with no room in the context")


def test_an_answer_that_never_finishes_checking_hits_the_deadline():
    # input prediction's oracle replays the row's input: here one that loops forever
    env = registry("environment").create("input-prediction")
    row = {
        "id": "loop",
        "code": "def f(x):\n    return 1\n",
        "output": "1",
        "input": "[x for x in iter(int, 1)]",
    }
    try:
        episode = asyncio.run(
            run_episode(env, OraclePolicy(), row, Sampling(), EpisodeLimits(deadline_s=1.0))
        )
    finally:
        env.close()
    assert episode.rollout.finish == FINISH_DEADLINE and episode.seconds < 5


class Guess(Env):
    """A multi-turn environment: guess the row's number; each miss is answered "no"."""

    name = "guess"

    def start(self, row):
        state = NoState()
        state.answer = row["n"]
        return state, Transition(observation=TOK.encode("guess"))

    def step(self, state, action):
        if list(action) == TOK.encode(str(state.answer)):
            return Transition(terminal=True, finish="answered", outcomes={"pass": True})
        return Transition(observation=TOK.encode("no"), outcomes={"pass": False})

    def reference(self, state):
        return [TOK.encode(str(n)) for n in range(state.answer + 1)]  # counts up to it


def test_the_turn_cap_ends_a_long_episode_truncated():
    row = {"id": "g", "n": 5}
    capped = asyncio.run(run_episode(Guess(), OraclePolicy(), row, Sampling(), EpisodeLimits(3)))
    assert capped.turns == 3 and capped.rollout.finish == FINISH_TURNS
    assert capped.rollout.transitions[-1].truncated and capped.rollout.outcomes["pass"] is False
    enough = asyncio.run(run_episode(Guess(), OraclePolicy(), row, Sampling(), EpisodeLimits(8)))
    assert enough.turns == 6 and enough.rollout.finish == "answered"
    assert registry("reward").create("pass")(enough.rollout) == 1.0


def test_a_row_that_cannot_be_traced_is_an_error_outcome_not_a_stopped_run(tmp_path):
    from rl_fixtures import write_rows

    from cwm.rl.eval.run import evaluate
    from cwm.rl.eval.task import load_task

    rows = [
        {"id": "ok", "source": "def f(x):\n    return x + 1\n", "call": "f(1)"},
        {"id": "loops", "source": "def f(x):\n    while True:\n        x += 1\n", "call": "f(1)"},
    ]
    data = write_rows(tmp_path / "rows.jsonl", rows)
    task = load_task("trace-prediction-next-frame")
    summary = evaluate(task, OraclePolicy(), out=tmp_path / "run", data=data, progress=False)
    assert summary["finish"] == {"answered": 3, "error": 1}  # ok's three frames, loops' error
    assert summary["score"] == 0.75
