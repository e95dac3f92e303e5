"""The ``code-tests`` environment: the oracle passes HumanEval and the stdin/stdout set; bad
answers (syntax errors, loops, floods, crashes, early exits, wrong output) get outcomes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from episodes import play, play_all_oracle, play_texts

from cwm.core.envs import token_rewards
from cwm.core.errors import CwmError
from cwm.core.plugins import registry
from cwm.rl.envs.datasets import DATA, humaneval_rows, read_jsonl, stdio_examples


@pytest.fixture(scope="module")
def env():
    return registry("environment").create("code-tests", timeout=3.0)


@pytest.fixture(scope="module")
def reward():
    return registry("reward").create("pass", partial=True)


def test_the_oracle_passes_every_humaneval_problem(env, reward) -> None:
    rows = read_jsonl(str(DATA / "humaneval.jsonl"))  # the built-in task's rows name problems
    assert len(rows) == 164 and rows[0] == {"id": "HumanEval/0", "humaneval": "HumanEval/0"}
    rollouts = play_all_oracle(env, rows)
    failed = [r.row_id for r in rollouts if not r.outcomes["pass"]]
    assert not failed
    assert all(reward(r) == 1.0 for r in rollouts)


def test_the_oracle_passes_the_stdio_problems(env, reward) -> None:
    for row in stdio_examples():
        rollout = play(env, row)
        assert rollout.done and rollout.finish == "answered"
        assert rollout.outcomes["pass"] and rollout.outcomes["tests"] == len(row["tests"])
        values = token_rewards(reward(rollout), rollout)
        assert values[-1] == 1.0 and sum(values) == 1.0


def test_the_prompt_holds_the_problem_but_not_its_answer(env) -> None:
    row = humaneval_rows(1)[0]
    _, first = env.start(row)
    text = env.chat.tok.decode(first.observation)
    assert "def has_close_elements" in text and text.endswith("assistant<|end_header_id|>\n\n")
    assert row["canonical_solution"].strip() not in text and "check(" not in text


def test_a_humaneval_completion_continues_the_prompt(env) -> None:
    row = humaneval_rows(1)[0]
    body = row["canonical_solution"]  # the body alone, as a completion model writes it
    assert play_texts(env, row, [body]).outcomes["pass"]


PRIMES = next(r for r in stdio_examples() if r["id"] == "cp-primes")
BAD = {
    "syntax_error": ("```python\ndef f(:\n```", False),
    "timeout": ("```python\nwhile True:\n    pass\n```", True),
    "output_limit": ("```python\nwhile True:\n    print('y' * 4096)\n```", True),
    "error": ("```python\nraise RuntimeError('boom')\n```", True),
    "memory": ("```python\nx = [0] * (10 ** 10)\n```", True),
}


@pytest.mark.parametrize("status", sorted(BAD))
def test_bad_programs_get_an_outcome_and_a_reward(env, reward, status: str) -> None:
    reply, compiled = BAD[status]
    rollout = play_texts(env, PRIMES, [reply])
    assert rollout.done
    out = rollout.outcomes
    assert out["status"] == status and out["compiled"] is compiled and out["pass"] is False
    assert out["passed_fraction"] == 0.0 and reward(rollout) == 0.0


def test_partly_right_programs_get_partial_credit(env, reward) -> None:
    row = next(r for r in stdio_examples() if r["id"] == "cp-sum")
    rollout = play_texts(env, row, ["```python\ninput()\nprint(6)\n```"])  # right on 1 of 3
    assert rollout.outcomes["status"] == "failed"
    assert rollout.outcomes["passed_fraction"] == pytest.approx(1 / 3)
    assert reward(rollout) == pytest.approx(1 / 3)
    assert registry("reward").create("pass")(rollout) == 0.0  # all or nothing


def test_exiting_before_the_tests_run_is_no_pass(env) -> None:
    row = humaneval_rows(1)[0]
    for cheat in ("import os\nos._exit(0)", "import sys\nsys.exit(0)"):
        rollout = play_texts(env, row, [f"```python\n{cheat}\n```"])
        assert rollout.outcomes["pass"] is False


READ_THE_TOKEN = """\
import os, re
source = open("program.py").read()
print(re.findall(r"print\\('([0-9a-f]{16})'\\)", source)[-1], flush=True)
os._exit(0)
"""


def test_an_answer_cannot_read_the_tests_or_the_pass_token(env) -> None:
    row = humaneval_rows(1)[0]
    spy = "import os\nprint(sorted(os.listdir('.')), open('program.py').read())\n"
    run = env.run_test(spy, "assert 1")[1]
    rollout = play_texts(env, row, [f"```python\n{READ_THE_TOKEN}```"])
    assert rollout.outcomes["pass"] is False
    assert "assert 1" not in run.stdout  # the test stays out of the answer's directory
    assert isinstance(rollout.transitions[-1].info["network_isolated"], bool)  # never silent


def test_an_unfinished_reply_is_graded_as_it_stands(env) -> None:
    row = next(r for r in stdio_examples() if r["id"] == "cp-reverse-words")
    text = "```python\nprint(' '.join(reversed(input().split())))\n"  # no closing fence
    rollout = play(env, row, [env.chat.tok.encode(text)])  # cut off: no end-of-turn token
    assert rollout.outcomes["pass"]


def test_user_jsonl_rows_and_their_errors(env, tmp_path: Path) -> None:
    rows = [
        {
            "id": "u1",
            "prompt": "def double(x):\n    ...",
            "entry_point": "double",
            "tests": ["assert double(2) == 4", "assert double(-1) == -2"],
            "solution": "def double(x):\n    return 2 * x\n",
        }
    ]
    path = tmp_path / "mine.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    (row,) = read_jsonl(path)
    assert play(env, row).outcomes["pass"]
    half = play_texts(env, row, ["```python\ndef double(x):\n    return 4\n```"])
    assert half.outcomes["passed_fraction"] == 0.5
    with pytest.raises(CwmError, match=r"u2.*tests"):
        env.start({"id": "u2", "prompt": "p"})
    path.write_text("{not json\n")
    with pytest.raises(CwmError, match=r"mine\.jsonl:1"):
        read_jsonl(path)
    with pytest.raises(CwmError, match="HumanEval/164"):
        env.start({"id": "h", "humaneval": "HumanEval/164"})
    with pytest.raises(CwmError, match="no solution"):
        env.reference(env.start({"id": "u3", "prompt": "p", "tests": ["pass"]})[0])


def test_options_from_the_command_line_and_their_errors() -> None:
    env = registry("environment").create("code-tests", timeout="2.5", memory_mb="256")
    assert (env.config.timeout, env.config.memory_mb) == (2.5, 256)  # --set gives text
    with pytest.raises(CwmError, match=r"env_options\.timout: unknown key.*code-tests"):
        registry("environment").create("code-tests", timout=1)
    with pytest.raises(CwmError, match=r"env_options\.timeout: must be a number > 0, got -1"):
        registry("environment").create("code-tests", timeout="-1")
    with pytest.raises(CwmError, match=r"memory_mb"):
        registry("environment").create("code-tests", memory_mb="lots")
